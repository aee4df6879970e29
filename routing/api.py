"""REST endpoints of routing under /api/routing/: rules, explain, simulate, the dispatch queue, return reasons,
a supervisor's escalation of a ticket (督办) and the supervision lists."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.wallboard_snapshots import supervision_lists
from tickets.api.pagination import Pagination
from tickets.api.serializers import ConflictSerializer, ErrorSerializer
from tickets.models import Role
from tickets.selectors import ticket_get_for

from . import serializers as s
from .actions import rule_delete, rule_save, rules_apply, rules_reorder, ticket_escalate
from .models import Rule
from .rules import RuleSpec, facts_for_body, rule_specs
from .selectors import dispatch_queue, dispatch_queue_rows, return_reasons, routing_explain, rules_simulate

INVALID = OpenApiResponse(ErrorSerializer, description="A bad rule or change; `fields` names each problem.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Only supervisors and administrators change rules.")


class HotlineStaff(BasePermission):
    """Operators, supervisors and administrators; departments see routing only through their tickets."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and (user.is_superuser or getattr(user, "is_hotline_staff", False)))


class Supervisors(BasePermission):
    """Supervisors and administrators."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and (user.is_superuser or getattr(user, "role", None) in (Role.SUPERVISOR, Role.ADMIN)))


def _every(request: Request) -> bool:
    return request.query_params.get("all", "").lower() in ("1", "true", "yes")


class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Routing rules (分派规则) in priority order; supervisors and administrators change them.

    Every change is validated whole before anything is written: a bad rule is a 400 naming each
    field, and nothing is saved.
    """

    permission_classes = [IsAuthenticated, HotlineStaff]
    serializer_class = s.RuleSerializer
    pagination_class = None  # a ruleset is read whole
    queryset = Rule.objects.select_related("lead_department", "updated_by").prefetch_related(
        "categories", "districts", "assisting_departments"
    )

    def _spec(self, pk: str) -> RuleSpec:
        for spec in rule_specs():
            if str(spec.id) == str(pk):
                return spec
        raise Http404

    def _out(self, rule: Rule, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.RuleSerializer(self.get_queryset().get(pk=rule.pk)).data, status=code)

    @extend_schema(request=s.RuleInputSerializer, responses={201: s.RuleSerializer, 400: INVALID, 403: FORBIDDEN})
    def create(self, request: Request, format: str | None = None) -> Response:
        form = s.RuleInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return self._out(rule_save(form.spec(RuleSpec()), actor=request.user), status.HTTP_201_CREATED)

    @extend_schema(request=s.RuleInputSerializer, responses={200: s.RuleSerializer, 400: INVALID, 403: FORBIDDEN})
    def update(self, request: Request, pk: str, format: str | None = None) -> Response:
        """Replace the rule whole: fields left out take their defaults."""
        current = self._spec(pk)
        form = s.RuleInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return self._out(rule_save(form.spec(RuleSpec(id=current.id)), actor=request.user))

    @extend_schema(request=s.RuleInputSerializer, responses={200: s.RuleSerializer, 400: INVALID, 403: FORBIDDEN})
    def partial_update(self, request: Request, pk: str, format: str | None = None) -> Response:
        current = self._spec(pk)
        form = s.RuleInputSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        return self._out(rule_save(form.spec(current), actor=request.user))

    @extend_schema(responses={204: None, 403: FORBIDDEN})
    def destroy(self, request: Request, pk: str, format: str | None = None) -> Response:
        rule_delete(self._spec(pk).id, actor=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=s.RuleChangeSerializer,
        responses={200: s.RuleSerializer(many=True), 400: INVALID, 403: FORBIDDEN},
    )
    @action(detail=False, methods=["post"])
    def apply(self, request: Request, format: str | None = None) -> Response:
        """Save, delete and reorder several rules at once: all of it or, on any error, none of it."""
        form = s.RuleChangeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        saved = rules_apply(form.change(), actor=request.user)
        rules = {rule.pk: rule for rule in self.get_queryset().filter(pk__in=[r.pk for r in saved])}
        return Response(s.RuleSerializer([rules[r.pk] for r in saved], many=True).data)

    @extend_schema(
        request=s.ReorderSerializer, responses={200: s.RuleSerializer(many=True), 400: INVALID, 403: FORBIDDEN}
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request: Request, format: str | None = None) -> Response:
        """Put the rules in this order (every rule's id once): priorities become 10, 20, …"""
        form = s.ReorderSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        rules_reorder(form.validated_data["order"], actor=request.user)
        return Response(s.RuleSerializer(self.get_queryset(), many=True).data)


class SimulateView(APIView):
    """Try a change before saving it: how many of the last N tickets would go to another department."""

    permission_classes = [IsAuthenticated, HotlineStaff]

    @extend_schema(request=s.SimulateSerializer, responses={200: OpenApiTypes.OBJECT, 400: INVALID})
    def post(self, request: Request, format: str | None = None) -> Response:
        form = s.SimulateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return Response(rules_simulate(form.change(), last=form.validated_data["last"]))


class ExplainView(APIView):
    """For a draft ticket (the operator's form, not saved): which rule matches, which conditions held, the suggestion.

    For a saved ticket: GET /api/tickets/{number}/routing/.
    """

    permission_classes = [IsAuthenticated, HotlineStaff]

    @extend_schema(
        request=s.DraftTicketSerializer,
        parameters=[OpenApiParameter("all", bool, description="Also every rule tried before the match, and why not.")],
        responses={200: OpenApiTypes.OBJECT, 400: INVALID},
    )
    def post(self, request: Request, format: str | None = None) -> Response:
        form = s.DraftTicketSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        return Response(routing_explain(facts_for_body(form.validated_data), every=_every(request)))


class DispatchQueueView(APIView):
    """The manual dispatch queue: registered and returned tickets without a department, each with its suggestion.

    Tickets returned twice (flagged for a supervisor) first, then urgent ones, then the oldest.
    """

    permission_classes = [IsAuthenticated, HotlineStaff]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, format: str | None = None) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(dispatch_queue(), request, view=self)
        return paginator.get_paginated_response(dispatch_queue_rows(page or []))


class ReturnReasonViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The reasons a department may give for a return (退单); edited in the admin."""

    serializer_class = s.ReturnReasonSerializer
    pagination_class = None

    def get_queryset(self):
        return return_reasons()


class TicketEscalateView(APIView):
    """Escalate (督办) a ticket by hand, with a note: supervisors and administrators, while a department holds it.

    Once per deadline (409 `already_escalated` while that escalation is open); the clocks' sweep
    resolves it when the ticket leaves the department or its deadline moves. Department staff get
    404 for a ticket not of their department (403 for their own), as on every ticket endpoint.
    """

    permission_classes = [IsAuthenticated]  # the ticket's visibility first (404), then the role (403)

    @extend_schema(
        request=s.EscalateSerializer,
        responses={
            201: s.EscalationSerializer,
            400: INVALID,
            403: OpenApiResponse(ErrorSerializer, description="Only supervisors and administrators escalate."),
            404: OpenApiResponse(ErrorSerializer, description="No such ticket, or not one of your department's."),
            409: OpenApiResponse(
                ConflictSerializer, description="No department holds the ticket now, or it is already escalated."
            ),
        },
    )
    def post(self, request: Request, number: str, format: str | None = None) -> Response:
        ticket = ticket_get_for(request.user, number)
        form = s.EscalateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        escalation = ticket_escalate(ticket, actor=request.user, note=form.validated_data["note"])
        return Response(s.EscalationSerializer(escalation).data, status=status.HTTP_201_CREATED)


class SupervisionView(APIView):
    """What the supervision page acts on: extension requests, returned tickets, overdue tickets, open escalations.

    The same lists as the supervisor socket's snapshot part `supervision` (docs/dashboards.md);
    the page reads them again when an event touches one of their tickets.
    """

    permission_classes = [IsAuthenticated, Supervisors]

    @extend_schema(
        responses={
            200: OpenApiTypes.OBJECT,
            403: OpenApiResponse(ErrorSerializer, description="Only supervisors and administrators."),
        }
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        return Response(supervision_lists(request.user))
