"""Portal URLs of the catalogue (included into the ``equipment`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("items/", views.item_list, name="items"),
    path("items/new", views.item_new, name="item_new"),
    path("items/<uuid:public_id>/edit", views.item_edit, name="item_edit"),
]
