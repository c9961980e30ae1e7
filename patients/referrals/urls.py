"""Portal URLs of referrals and authorizations (included into the ``patients`` namespace)."""

from django.urls import path

from patients.referrals import views

urlpatterns = [
    path("referrals/", views.referral_queue, name="referral_queue"),
    path("referrals/<uuid:public_id>/", views.referral_detail, name="referral_detail"),
    path("referrals/<uuid:public_id>/status", views.referral_status, name="referral_status"),
    path("referrals/<uuid:public_id>/assign", views.referral_assign, name="referral_assign"),
    path(
        "referrals/<uuid:public_id>/documents", views.referral_documents, name="referral_documents"
    ),
    path("<uuid:public_id>/referrals", views.patient_referrals, name="referrals"),
    path("<uuid:public_id>/authorizations", views.patient_authorizations, name="authorizations"),
    path("authorizations/expiring", views.authorizations_expiring, name="authorizations_expiring"),
    path(
        "authorizations/<uuid:public_id>/edit", views.authorization_edit, name="authorization_edit"
    ),
    path(
        "authorizations/<uuid:public_id>/units",
        views.authorization_units,
        name="authorization_units",
    ),
]
