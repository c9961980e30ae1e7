"""Signed file downloads. There is deliberately no URL for MEDIA: files leave only through here."""

from django.urls import path

from clinic.files import views as files

urlpatterns = [
    path("files/<str:token>", files.file_download, name="file_download"),
]
