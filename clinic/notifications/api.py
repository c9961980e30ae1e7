"""API of notifications: a page of them, and marking one read.

One view per operation, explicit serializers, scoped before anything else happens.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api import staff
from clinic.notifications.services import (
    notification_mark_read,
    notifications_of,
    notifications_page,
)
from clinic.tenancy import get_scoped


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
