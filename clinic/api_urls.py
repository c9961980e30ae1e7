from django.urls import path

app_name = "clinic-api"
urlpatterns: list = []
