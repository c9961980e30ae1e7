"""The portal shell: role dashboards."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.decorators import staff_required


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/dashboard.html", {})
