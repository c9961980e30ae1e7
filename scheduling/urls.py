"""Portal pages of scheduling."""

app_name = "scheduling"
urlpatterns: list = []  # filled by the app
