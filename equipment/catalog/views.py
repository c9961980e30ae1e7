"""Portal pages of the catalogue: the list (everyone who works with equipment) and the add and
edit forms (ADMINs)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from clinic.decorators import staff_required
from clinic.errors import NotFound
from clinic.web import actor, form_submit

from .forms import ItemEditForm, ItemForm
from .models import ItemKind
from .permissions import can_manage_catalog, can_view_catalog
from .selectors import items_visible_to
from .services import item_create, item_update


@require_GET
@staff_required(check=can_view_catalog)
def item_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    kind = request.GET.get("kind", "")
    items = items_visible_to(user)
    if kind in ItemKind.values:
        items = items.filter(kind=kind)
    if request.GET.get("inactive") != "1":
        items = items.filter(is_active=True)
    return render(
        request,
        "equipment/catalog/list.html",
        {
            "items": list(items),
            "kinds": ItemKind.choices,
            "kind": kind,
            "can_manage": can_manage_catalog(user),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required(check=can_manage_catalog)
def item_new(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = ItemForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda data: item_create(actor=user, **data),
            success=lambda item: f"Added {item.name} to the catalogue.",
            redirect_to=reverse("equipment:items"),
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request, "equipment/catalog/form.html", {"form": form, "creating": True}, status=status
    )


@require_http_methods(["GET", "POST"])
@staff_required(check=can_manage_catalog)
def item_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    item = items_visible_to(user).filter(public_id=public_id).first()
    if item is None:
        raise NotFound("That item does not exist.")
    initial = {
        field: getattr(item, field)
        for field in (
            "hcpcs",
            "name",
            "kind",
            "manufacturer",
            "model_number",
            "size",
            "serialized",
            "is_active",
        )
    }
    form = ItemEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda data: item_update(actor=user, item=item, **data),
            success=lambda changed: f"Saved {changed.name}.",
            redirect_to=reverse("equipment:items"),
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "equipment/catalog/form.html",
        {"form": form, "creating": False, "item": item},
        status=status,
    )
