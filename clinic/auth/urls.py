"""Sign-in, sign-out, session status and the account page."""

from django.urls import path

from clinic.auth import views as auth

urlpatterns = [
    path("login", auth.login_view, name="login"),
    path("login/verify", auth.login_verify, name="login_verify"),
    path("login/enrol", auth.login_enrol, name="login_enrol"),
    path("login/backup-codes", auth.login_backup_codes, name="login_backup_codes"),
    path("logout", auth.logout_view, name="logout"),
    path("session/status", auth.session_status, name="session_status"),
    path("session/keepalive", auth.session_keepalive, name="session_keepalive"),
    path("account", auth.account, name="account"),
    path("account/password", auth.account_password, name="account_password"),
    path("account/backup-codes", auth.account_backup_codes, name="account_backup_codes"),
]
