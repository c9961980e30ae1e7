"""Portal pages of patients.guided."""

app_name = "guided"
urlpatterns: list = []  # filled by the app
