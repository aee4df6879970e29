"""Calls over REST: the screen pop, for a console that connects after its call did (/api/calls/…/pop/), and
the other tickets an operator opened on a call (/api/calls/<id>/tickets/)."""

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets.api.serializers import ErrorSerializer
from tickets.errors import NotAllowed
from tickets.models import User
from tickets.selectors import tickets_visible_to

from .actions import call_ticket_link
from .selectors import POP_ROLES, call_current_for, call_pop_payload, call_ticket_numbers, calls_poppable_for

FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Only operators, supervisors and administrators.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such call, or (for an operator) not one they answered.")


def _check_role(user: User) -> None:
    if not (user.is_superuser or user.role in POP_ROLES):
        raise NotAllowed(_("Only hotline staff see calls."))


class CallPopView(APIView):
    """The call.pop payload of one call: supervisors any call, an operator the calls they answered."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 403: FORBIDDEN, 404: NOT_FOUND})
    def get(self, request: Request, pk: int) -> Response:
        _check_role(request.user)
        call = calls_poppable_for(request.user).filter(pk=pk).first()
        if call is None:
            raise Http404("No such call.")
        return Response(call_pop_payload(call))


class CurrentCallPopView(APIView):
    """The call.pop payload of the operator's call in progress (answered, not hung up); 404 between calls."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 403: FORBIDDEN, 404: NOT_FOUND})
    def get(self, request: Request) -> Response:
        _check_role(request.user)
        call = call_current_for(request.user)
        if call is None:
            raise Http404("No call in progress.")
        return Response(call_pop_payload(call))


class CallTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(max_length=32, help_text="The number of a ticket opened on this call.")


class CallTicketsView(APIView):
    """Link a ticket the operator opened on this call besides the bridge's draft (a second matter)."""

    @extend_schema(
        request=CallTicketSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(ErrorSerializer), 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        _check_role(request.user)
        call = calls_poppable_for(request.user).filter(pk=pk).first()
        if call is None:
            raise Http404("No such call.")
        form = CallTicketSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        ticket = tickets_visible_to(request.user).filter(number=form.validated_data["ticket"]).first()
        if ticket is None:
            raise Http404("No such ticket.")
        call = call_ticket_link(call, ticket, actor=request.user)
        return Response({"call": call.pk, "tickets": call_ticket_numbers(call)})
