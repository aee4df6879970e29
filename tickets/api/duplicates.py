"""Duplicate suggestions (重复件) over the API: for a saved ticket, and for the operator's draft as it is typed."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..duplicates import DuplicateQuery, Suggestion, duplicates_for_draft, duplicates_for_ticket
from ..models import District
from ..pii import phone_mask
from ..selectors import ticket_get_for
from .serializers import ErrorSerializer, VisibleCitizenField, VisibleTicketField

EXCERPT = 140  # characters of the description shown with a suggestion


class HotlineStaff(BasePermission):
    """Operators, supervisors and administrators: duplicates are the hotline's business, not a department's."""

    message = _("Only hotline staff see duplicate suggestions.")

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and (user.is_superuser or getattr(user, "is_hotline_staff", False)))


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="same_phone, same_citizen, follow_up, similar_description, same_address, near_address, "
        "same_district, reported, finished"
    )
    text = serializers.CharField(help_text="For people, in the request's language.")
    similarity = serializers.FloatField(required=False, help_text="With similar_description: 0–1.")


class SuggestionSerializer(serializers.Serializer):
    """A likely duplicate: the ticket as lists show it (the caller masked), why, and whether it can be merged into."""

    number = serializers.CharField(source="ticket.number")
    kind = serializers.CharField(source="ticket.kind")
    kind_display = serializers.CharField(source="ticket.get_kind_display")
    status = serializers.CharField(source="ticket.status")
    status_display = serializers.CharField(source="ticket.get_status_display")
    title = serializers.CharField(source="ticket.title")
    excerpt = serializers.SerializerMethodField(help_text=f"The description's first {EXCERPT} characters.")
    address = serializers.CharField(source="ticket.address")
    district = serializers.IntegerField(source="ticket.district_id", allow_null=True)
    district_name = serializers.CharField(source="ticket.district.name", default=None)
    lead_department_name = serializers.CharField(source="ticket.lead_department.name", default=None)
    created_at = serializers.DateTimeField(source="ticket.created_at")
    caller = serializers.SerializerMethodField(help_text="The caller's number, masked.")
    score = serializers.FloatField(help_text="For ordering: the similarity plus the weight of the caller and place.")
    similarity = serializers.FloatField(help_text="Of the descriptions, 0–1.")
    place = serializers.CharField(help_text="same_address, near_address, same_district, unknown, other_address")
    same_caller = serializers.CharField(source="caller", help_text="phone, citizen, or empty")
    mergeable = serializers.BooleanField(help_text="Open: a report may be merged into it (POST …/merge/).")
    reasons = ReasonSerializer(many=True)

    def get_excerpt(self, suggestion: Suggestion) -> str:
        text = suggestion.ticket.description or ""
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"

    def get_caller(self, suggestion: Suggestion) -> str:
        return phone_mask(suggestion.ticket.caller_number)


@extend_schema_field(OpenApiTypes.INT)
class CitizenIdField(VisibleCitizenField):
    """A citizen id the requesting user may see (the schema needs its type: this serializer has no model)."""


class DraftSerializer(serializers.Serializer):
    """The operator's form before (or after) it is saved: every field optional."""

    description = serializers.CharField(required=False, allow_blank=True, default="")
    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    address = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    district = serializers.PrimaryKeyRelatedField(
        queryset=District.objects.all(), required=False, allow_null=True, default=None
    )
    phone = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32, help_text="The caller's number, any format."
    )
    citizen = CitizenIdField(required=False, allow_null=True, default=None, help_text="The caller's citizen id.")
    ticket = VisibleTicketField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The draft's own number once it is saved: left out of the suggestions; its caller's phone and "
        "citizen count when the body gives none (the screen pop shows the caller's number masked).",
    )

    def query(self) -> DuplicateQuery:
        """The draft as the form has it; a saved draft's own caller (its phone, its citizen) where the body has none."""
        data, ticket = self.validated_data, self.validated_data["ticket"]
        citizen = data["citizen"].pk if data["citizen"] else (ticket.citizen_id if ticket else None)
        return DuplicateQuery(
            description=data["description"],
            title=data["title"],
            address=data["address"],
            district=data["district"].pk if data["district"] else None,
            phone=data["phone"] or (ticket.caller_number if ticket else ""),
            citizen=citizen,
            exclude=ticket.pk if ticket else None,
        )


FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Department staff: duplicates are the hotline's business.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such ticket, or not one of your department's.")
INVALID = OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names each field.")


class TicketDuplicatesView(APIView):
    """The tickets this ticket is likely a second report of (重复件), most likely first, each with its reasons.

    Open tickets, and the same caller's tickets of the last HOTLINE_DUPLICATE_DAYS days; merge with
    POST /api/tickets/{number}/merge/ {"into": "<number>"}. For operators, supervisors and
    administrators. Department staff read their own tickets' endpoints like every ticket endpoint
    but get an empty list (duplicates are the hotline's business, and a suggestion could name
    another department's ticket or a reporter's other calls); another department's ticket is a 404.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: SuggestionSerializer(many=True), 404: NOT_FOUND})
    def get(self, request: Request, number: str, format: str | None = None) -> Response:
        ticket = ticket_get_for(request.user, number)
        suggestions = duplicates_for_ticket(request.user, ticket)  # none for department staff
        return Response(SuggestionSerializer(suggestions, many=True).data)


class DraftDuplicatesView(APIView):
    """For the operator's form as it is typed (not saved, or saved as a draft): the likely duplicates, with reasons.

    As POST /api/routing/explain/ does for the routing suggestion. For a saved ticket:
    GET /api/tickets/{number}/duplicates/.
    """

    permission_classes = [IsAuthenticated, HotlineStaff]

    @extend_schema(
        request=DraftSerializer, responses={200: SuggestionSerializer(many=True), 400: INVALID, 403: FORBIDDEN}
    )
    def post(self, request: Request, format: str | None = None) -> Response:
        form = DraftSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        suggestions = duplicates_for_draft(request.user, form.query())
        return Response(SuggestionSerializer(suggestions, many=True).data)
