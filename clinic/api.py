"""The clinic core's API, and the plumbing every app's API shares: domain errors become JSON
a person can read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.errors import ApplicationError
from clinic.models import Membership
from clinic.services.notifications import (
    notification_mark_read,
    notifications_of,
    notifications_page,
)
from clinic.tenancy import get_scoped, scope_queryset, visible_locations

if TYPE_CHECKING:
    from clinic.models import User


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.extra:
            body["details"] = exc.extra
        return Response({"error": body}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("That record does not exist or is not available to you.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        if isinstance(detail, dict) and "detail" in detail:
            message = str(detail["detail"])
            response.data = {
                "error": {"code": getattr(detail["detail"], "code", "error"), "message": message}
            }
        else:
            response.data = {
                "error": {
                    "code": "invalid",
                    "message": "Some fields need attention.",
                    "fields": detail,
                }
            }
    return response


# ---------------------------------------------------------------- endpoints of the clinic core
# One view per operation, explicit output serializers, scoped before anything else happens.


def staff(request: Request) -> User:
    """The request's user; IsVerifiedStaff (the default permission) has already vouched for it."""
    return cast("User", request.user)


class LocationOut(serializers.Serializer):
    public_id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.CharField()
    timezone = serializers.CharField()


class MembershipOut(serializers.Serializer):
    location = LocationOut()
    role = serializers.CharField()


class OrganizationOut(serializers.Serializer):
    public_id = serializers.UUIDField()
    name = serializers.CharField()


class MeOut(serializers.Serializer):
    public_id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    organization = OrganizationOut()
    memberships = MembershipOut(many=True)


class MeView(APIView):
    """Who am I: the signed-in user, their organization and their roles per location."""

    @extend_schema(responses=MeOut)
    def get(self, request: Request) -> Response:
        user = staff(request)
        memberships = scope_queryset(
            Membership.objects.select_related("location").filter(user=user), user
        )
        data = {
            "public_id": user.public_id,
            "email": user.email,
            "full_name": user.full_name,
            "organization": user.organization,
            "memberships": memberships,
        }
        return Response(MeOut(data).data)


class LocationListView(APIView):
    """The locations the signed-in user may see."""

    @extend_schema(responses=LocationOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(LocationOut(visible_locations(staff(request)), many=True).data)


class NotificationOut(serializers.Serializer):
    public_id = serializers.UUIDField()
    title = serializers.CharField()
    body = serializers.CharField()
    url = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationPageOut(serializers.Serializer):
    results = NotificationOut(many=True)
    next_before = serializers.UUIDField(allow_null=True)


class NotificationListIn(serializers.Serializer):
    before = serializers.UUIDField(required=False)


class NotificationListView(APIView):
    """The signed-in user's notifications, newest first, paged by ``?before=<public_id>``."""

    @extend_schema(parameters=[NotificationListIn], responses=NotificationPageOut)
    def get(self, request: Request) -> Response:
        params = NotificationListIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        before = params.validated_data.get("before")
        rows, more = notifications_page(staff(request), before=str(before) if before else None)
        body = {"results": rows, "next_before": rows[-1].public_id if more and rows else None}
        return Response(NotificationPageOut(body).data)


class NotificationReadView(APIView):
    """Mark one of your own notifications read."""

    @extend_schema(request=None, responses=NotificationOut)
    def post(self, request: Request, public_id: str) -> Response:
        notification = get_scoped(
            notifications_of(staff(request)), staff(request), public_id=public_id
        )
        notification = notification_mark_read(actor=staff(request), notification=notification)
        return Response(NotificationOut(notification).data)
