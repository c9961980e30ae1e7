app_name = "clinic-api"
urlpatterns: list = []
