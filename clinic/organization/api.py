"""API of the organization: who am I, and the locations I can see.

One view per operation, explicit output serializers, scoped before anything else happens.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api import staff
from clinic.models import Membership
from clinic.tenancy import scope_queryset, visible_locations


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
