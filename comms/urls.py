"""Portal pages of comms."""

app_name = "comms"
urlpatterns: list = []  # filled by the app
