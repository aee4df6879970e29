"""Callback (回访) endpoints: GET /api/callbacks/ (owed and done), POST /api/tickets/{number}/callback/ (record one).

The recording endpoint lives here, not in tickets/api, and is routed by routing/urls_reports.py
beside the tickets router: the tickets router has no `callback` route, so the two never clash.
"""

from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets import clock
from tickets.api.serializers import ConflictSerializer, ErrorSerializer
from tickets.errors import NotAllowed
from tickets.models import Satisfaction, User
from tickets.selectors import ticket_get_for

from .callbacks import callback_may_record, callback_record
from .models import Callback

__all__ = ["CallbackViewSet", "TicketCallbackView", "callbacks_visible_to"]


def callbacks_visible_to(user: User) -> QuerySet[Callback]:
    """Hotline staff see every callback; departments see none (the hotline calls the citizen, not them)."""
    if getattr(user, "is_superuser", False) or getattr(user, "is_hotline_staff", False):
        return Callback.objects.select_related("ticket").order_by("due_at", "id")
    return Callback.objects.none()


# The callback's result, labelled with what it does to the ticket (also keeps the schema's enum apart
# from the ticket's own `satisfaction`, which has the same values).
RESULT_CHOICES = [
    (Satisfaction.SATISFIED, _("Satisfied: the ticket is closed")),
    (Satisfaction.BASICALLY, _("Basically satisfied: the ticket is closed")),
    (Satisfaction.UNSATISFIED, _("Unsatisfied: the ticket is reopened to the same department (重办)")),
]


class CallbackSerializer(serializers.ModelSerializer):
    ticket = serializers.SlugRelatedField(slug_field="number", read_only=True)
    result = serializers.ChoiceField(choices=RESULT_CHOICES, allow_blank=True, read_only=True)
    ticket_status = serializers.CharField(source="ticket.status", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Callback
        fields = [
            "id",
            "ticket",
            "ticket_status",
            "department",
            "replied_at",
            "deadline",
            "due_at",
            "overdue",
            "done_at",
            "result",
            "note",
            "operator",
            "created_at",
        ]
        read_only_fields = fields

    def get_overdue(self, obj: Callback) -> bool:
        return obj.done_at is None and obj.due_at < clock.now()


class CallbackRecordSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=RESULT_CHOICES)
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text=_("What the citizen said; required when unsatisfied (the ticket is reopened)."),
    )


class CallbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Callbacks (回访) owed and done, the earliest due first. Hotline staff only."""

    serializer_class = CallbackSerializer

    def get_queryset(self) -> QuerySet[Callback]:
        if getattr(self, "swagger_fake_view", False):
            return Callback.objects.none()
        callbacks = callbacks_visible_to(self.request.user)
        pending = self.request.query_params.get("pending", "").lower()
        if pending in ("1", "true", "yes"):
            callbacks = callbacks.filter(done_at__isnull=True)
        elif pending in ("0", "false", "no"):
            callbacks = callbacks.filter(done_at__isnull=False)
        return callbacks

    @extend_schema(
        parameters=[OpenApiParameter("pending", bool, description="true: still owed; false: done.")],
        responses={200: CallbackSerializer(many=True)},
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


class TicketCallbackView(APIView):
    """Record the callback of a replied ticket: satisfied or basically satisfied closes it, unsatisfied reopens it.

    Hotline staff only (403 for department staff on their own tickets; 404 on anyone else's).
    From any status but replied: 409 with the allowed actions; nothing changes.
    """

    @extend_schema(
        request=CallbackRecordSerializer,
        responses={
            200: CallbackSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names each field."),
            403: OpenApiResponse(ErrorSerializer, description="Only hotline staff record callbacks."),
            404: OpenApiResponse(ErrorSerializer, description="No such ticket, or not one of your department's."),
            409: OpenApiResponse(ConflictSerializer, description="The ticket is not waiting for a callback."),
        },
    )
    def post(self, request: Request, number: str) -> Response:
        ticket = ticket_get_for(request.user, number)
        if not callback_may_record(request.user):
            raise NotAllowed(gettext("Only hotline staff record callbacks."))
        form = CallbackRecordSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        callback = callback_record(ticket, actor=request.user, **form.validated_data)
        callback = Callback.objects.select_related("ticket").get(pk=callback.pk)
        return Response(CallbackSerializer(callback).data)
