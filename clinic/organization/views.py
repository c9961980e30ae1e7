"""Organization administration for ADMINs: users, their memberships, and locations.

Every view is guarded by ``can_manage_organization`` (others get 404), fetches objects by
public id through ``get_scoped`` (another organization's ids are 404 too) and calls one
service; a service's refusal is shown on the form or as a message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import Location, Membership, User
from clinic.organization import services
from clinic.organization.forms import (
    LocationForm,
    MembershipAddForm,
    MembershipRoleForm,
    UserCreateForm,
    UserEditForm,
    UserFilterForm,
)
from clinic.permissions import can_manage_organization
from clinic.tenancy import get_scoped, scope_queryset
from clinic.web import actor, form_submit

USERS_PER_PAGE = 25

admin_only = staff_required(check=can_manage_organization)


def _org_locations(request: HttpRequest) -> QuerySet[Location]:
    """Every location of the admin's organization, deactivated ones included."""
    return scope_queryset(Location.objects.all(), actor(request), all_locations=True)


def _active_locations(request: HttpRequest) -> QuerySet[Location]:
    return _org_locations(request).filter(is_active=True)


def _user(request: HttpRequest, public_id: Any) -> User:
    users = User.objects.select_related("organization")
    return get_scoped(users, actor(request), public_id=public_id)


@admin_only
def organization(request: HttpRequest) -> HttpResponse:
    return redirect("clinic:organization_users")


# -- users -------------------------------------------------------------------------------------


@admin_only
def users(request: HttpRequest) -> HttpResponse:
    form = UserFilterForm(request.GET or None, locations=_org_locations(request))
    qs = scope_queryset(User.objects.all(), actor(request), all_locations=True)
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            qs = qs.filter(Q(full_name__icontains=data["q"]) | Q(email__icontains=data["q"]))
        if data["role"] or data["location"]:
            holds = Membership.objects.filter(user=OuterRef("pk"))
            if data["role"]:
                holds = holds.filter(role=data["role"])
            if data["location"]:
                holds = holds.filter(location=data["location"])
            qs = qs.filter(Exists(holds))
        if data["status"]:
            qs = qs.filter(is_active=data["status"] == "active")
    qs = qs.order_by("full_name", "id").prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("location").order_by("location__name"),
            to_attr="membership_list",
        )
    )
    page = Paginator(qs, USERS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "tab": "users"}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "user-results":
        return render(request, "clinic/organization/users_results.html", context)
    return render(request, "clinic/organization/users.html", context)


@admin_only
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    locations = _active_locations(request)
    form = UserCreateForm(request.POST or None, locations=locations)
    if request.method == "POST":
        done = form_submit(
            request,
            form,
            lambda data: services.user_create(
                actor=actor(request),
                email=data["email"],
                full_name=data["full_name"],
                password=data["password"],
                location=data["location"],
                role=data["role"],
            ),
            success=lambda user: (
                f"{user.full_name} can now sign in. At their first sign-in they set up an "
                "authenticator app."
            ),
            redirect_to=_user_url,
        )
        if done is not None:
            return done
    return render(
        request,
        "clinic/organization/user_create.html",
        {"form": form, "tab": "users", "has_locations": locations.exists()},
        status=400 if form.errors else 200,
    )


def _user_url(user: User) -> str:
    return reverse("clinic:organization_user", kwargs={"public_id": user.public_id})


def _user_page(
    request: HttpRequest,
    user: User,
    *,
    edit_form: UserEditForm | None = None,
    add_form: MembershipAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    memberships = list(
        Membership.objects.filter(user=user).select_related("location").order_by("location__name")
    )
    free_locations = _active_locations(request).exclude(memberships__user=user)
    for m in memberships:
        m.role_form = MembershipRoleForm(  # type: ignore[attr-defined]
            initial={"role": m.role}, auto_id=f"id_role_{m.public_id}_%s"
        )
    context = {
        "subject": user,
        "is_self": user.pk == actor(request).pk,
        "memberships": memberships,
        "edit_form": edit_form or UserEditForm(initial={"full_name": user.full_name}),
        "add_form": add_form or MembershipAddForm(locations=free_locations, prefix="add"),
        "can_add_membership": free_locations.exists(),
        "has_authenticator": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "tz_name": user.organization.timezone if user.organization else "UTC",
        "tab": "users",
    }
    return render(request, "clinic/organization/user_detail.html", context, status=status)


@admin_only
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _user(request, public_id)
    if request.method != "POST":
        return _user_page(request, user)
    form = UserEditForm(request.POST)
    done = form_submit(
        request,
        form,
        lambda data: services.user_update(
            actor=actor(request), user=user, full_name=data["full_name"]
        ),
        success="Name saved.",
        redirect_to=_user_url,
    )
    if done is not None:
        return done
    return _user_page(request, user, edit_form=form, status=400)


@admin_only
@require_POST
def membership_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _user(request, public_id)
    free_locations = _active_locations(request).exclude(memberships__user=user)
    form = MembershipAddForm(request.POST, locations=free_locations, prefix="add")
    done = form_submit(
        request,
        form,
        lambda data: services.membership_add(
            actor=actor(request), user=user, location=data["location"], role=data["role"]
        ),
        success=lambda membership: (
            f"{user.full_name} is now {membership.get_role_display()} at "
            f"{membership.location.name}."
        ),
        redirect_to=lambda membership: _user_url(membership.user),
    )
    if done is not None:
        return done
    return _user_page(request, user, add_form=form, status=400)


def _membership(request: HttpRequest, public_id: Any) -> Membership:
    return get_scoped(
        Membership.objects.select_related("user", "location"),
        actor(request),
        public_id=public_id,
    )


@admin_only
@require_POST
def membership_role(request: HttpRequest, public_id: Any) -> HttpResponse:
    membership = _membership(request, public_id)
    form = MembershipRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role from the list.")
    else:
        try:
            membership = services.membership_role_change(
                actor=actor(request),
                membership=membership,
                role=form.cleaned_data["role"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"{membership.user.full_name} is now {membership.get_role_display()} at "
                f"{membership.location.name}.",
            )
    return redirect("clinic:organization_user", public_id=membership.user.public_id)


@admin_only
@require_POST
def membership_remove(request: HttpRequest, public_id: Any) -> HttpResponse:
    membership = _membership(request, public_id)
    try:
        services.membership_remove(actor=actor(request), membership=membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{membership.user.full_name} no longer has a role at {membership.location.name}.",
        )
    return redirect("clinic:organization_user", public_id=membership.user.public_id)


@admin_only
@require_POST
def user_deactivate(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _user(request, public_id)
    try:
        services.user_deactivate(actor=actor(request), user=user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{user.full_name} is deactivated and has been signed out everywhere."
        )
    return redirect("clinic:organization_user", public_id=user.public_id)


@admin_only
@require_POST
def user_reactivate(request: HttpRequest, public_id: Any) -> HttpResponse:
    user = _user(request, public_id)
    try:
        services.user_reactivate(actor=actor(request), user=user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.full_name} can sign in again.")
    return redirect("clinic:organization_user", public_id=user.public_id)


# -- locations ---------------------------------------------------------------------------------


@admin_only
def locations(request: HttpRequest) -> HttpResponse:
    rows = (
        _org_locations(request)
        .annotate(
            member_count=Count(
                "memberships__user", filter=Q(memberships__user__is_active=True), distinct=True
            )
        )
        .order_by("-is_active", "name")
    )
    return render(
        request, "clinic/organization/locations.html", {"locations": rows, "tab": "locations"}
    )


def _location_values(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in ("name", "kind", "timezone", "address", "phone")}


@admin_only
@require_http_methods(["GET", "POST"])
def location_create(request: HttpRequest) -> HttpResponse:
    org = actor(request).organization
    form = LocationForm(request.POST or None, initial={"timezone": org.timezone if org else None})
    if request.method == "POST":
        done = form_submit(
            request,
            form,
            lambda data: services.location_create(actor=actor(request), **_location_values(data)),
            success=lambda location: f"{location.name} is added.",
            redirect_to="clinic:organization_locations",
        )
        if done is not None:
            return done
    return render(
        request,
        "clinic/organization/location_form.html",
        {"form": form, "tab": "locations", "location": None},
        status=400 if form.errors else 200,
    )


@admin_only
@require_http_methods(["GET", "POST"])
def location_edit(request: HttpRequest, public_id: Any) -> HttpResponse:
    location = get_scoped(_org_locations(request), actor(request), public_id=public_id)
    initial = {f: getattr(location, f) for f in ("name", "kind", "timezone", "address", "phone")}
    form = LocationForm(request.POST or None, initial=initial)
    if request.method == "POST":
        done = form_submit(
            request,
            form,
            lambda data: services.location_update(
                actor=actor(request), location=location, **_location_values(data)
            ),
            success=lambda _result: f"{location.name} is saved.",
            redirect_to="clinic:organization_locations",
        )
        if done is not None:
            return done
    return render(
        request,
        "clinic/organization/location_form.html",
        {"form": form, "tab": "locations", "location": location},
        status=400 if form.errors else 200,
    )


@admin_only
@require_POST
def location_deactivate(request: HttpRequest, public_id: Any) -> HttpResponse:
    location = get_scoped(_org_locations(request), actor(request), public_id=public_id)
    try:
        services.location_deactivate(actor=actor(request), location=location)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{location.name} is deactivated.")
    return redirect("clinic:organization_location", public_id=location.public_id)


@admin_only
@require_POST
def location_reactivate(request: HttpRequest, public_id: Any) -> HttpResponse:
    location = get_scoped(_org_locations(request), actor(request), public_id=public_id)
    try:
        services.location_reactivate(actor=actor(request), location=location)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{location.name} is active again.")
    return redirect("clinic:organization_location", public_id=location.public_id)
