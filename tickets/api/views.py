"""REST endpoints: parse input, call one action or selector, respond."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from routing.actions import ticket_assist_input
from routing.rules import facts_for_ticket
from routing.selectors import routing_explain, ticket_accept_by, ticket_assist_inputs, ticket_assist_missing

from .. import actions
from ..models import TRANSITIONS, Action, Category, Citizen, Department, District, Ticket
from ..selectors import (
    citizens_search,
    citizens_visible_to,
    reporter_hidden_from,
    ticket_get_for,
    ticket_timeline,
    tickets_visible_to,
)
from . import serializers as s
from .errors import VersionRequired
from .filters import TicketFilter

# The error answers each kind of endpoint may give, for the schema.
NOT_FOUND = OpenApiResponse(s.ErrorSerializer, description="No such ticket, or not one of your department's.")
INVALID = OpenApiResponse(s.ErrorSerializer, description="Invalid input; `fields` names each field.")
FORBIDDEN = OpenApiResponse(s.ErrorSerializer, description="Your role may not do this.")
CONFLICT = OpenApiResponse(
    s.ConflictSerializer,
    description="Not allowed in the current status (the allowed actions listed), or stale version.",
)

# action name -> the function that performs it, with the serializer's fields as keywords.
TRANSITION_FUNCTIONS = {
    Action.REGISTER: actions.ticket_register,
    Action.CLOSE_FIRST_CONTACT: actions.ticket_close_first_contact,
    Action.DISPATCH: actions.ticket_dispatch,
    Action.ACCEPT: actions.ticket_accept,
    Action.RETURN: actions.ticket_return,
    Action.REQUEST_EXTENSION: actions.ticket_request_extension,
    Action.APPROVE_EXTENSION: actions.ticket_approve_extension,
    Action.DENY_EXTENSION: actions.ticket_deny_extension,
    Action.REPLY: actions.ticket_reply,
    Action.CLOSE: actions.ticket_close,
    Action.REOPEN: actions.ticket_reopen,
    Action.MERGE: actions.ticket_merge,
    Action.CANCEL: actions.ticket_cancel,
    Action.REASSIGN: actions.ticket_reassign,
}


# Every handler takes `format`: the router also answers each route with a suffix (/api/tickets/1.json).
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Tickets (工单). Department staff see only their department's tickets; others answer 404."""

    lookup_field = "number"
    lookup_value_regex = r"\d+"
    filterset_class = TicketFilter
    serializer_class = s.TicketSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user, only the model
            return Ticket.objects.none()
        return tickets_visible_to(self.request.user).prefetch_related("assisting_departments")

    def get_object(self) -> Ticket:
        return ticket_get_for(self.request.user, self.kwargs["number"])

    @extend_schema(responses={200: s.TicketSerializer(many=True), 400: INVALID})
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.TicketSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=s.TicketWriteSerializer, responses={201: s.TicketSerializer, 400: INVALID, 403: FORBIDDEN})
    def create(self, request: Request, format: str | None = None) -> Response:
        form = s.TicketWriteSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        ticket = actions.ticket_create(actor=request.user, register=data.pop("register"), **data)
        return Response(self._out(ticket), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.TicketUpdateSerializer,
        responses={
            200: s.TicketSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
            428: OpenApiResponse(s.ErrorSerializer, description="Send the version you read."),
        },
    )
    def partial_update(self, request: Request, number: str, format: str | None = None) -> Response:
        ticket = self.get_object()
        form = s.TicketUpdateSerializer(data=request.data, partial=True, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        version = data.pop("version", None)
        if version is None:
            raise VersionRequired
        ticket = actions.ticket_update(ticket, actor=request.user, version=version, **data)
        return Response(self._out(ticket))

    @extend_schema(responses={200: s.TimelineEntrySerializer(many=True), 404: NOT_FOUND})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def timeline(self, request: Request, number: str, format: str | None = None) -> Response:
        ticket = self.get_object()
        context = {**self.get_serializer_context(), "hide_reporter": reporter_hidden_from(request.user, ticket)}
        return Response(s.TimelineEntrySerializer(ticket_timeline(ticket), many=True, context=context).data)

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="Also every rule tried before the match, and why not.")],
        responses={200: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def routing(self, request: Request, number: str, format: str | None = None) -> Response:
        """Which rule matches the ticket and why, the suggestion a bare dispatch takes, and the time to accept."""
        ticket = self.get_object()
        every = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        result = routing_explain(facts_for_ticket(ticket), ticket=ticket, every=every)
        if reporter_hidden_from(request.user, ticket):
            # How often a reporter (举报人) has called says something about who they are.
            for rule in [result, *result.get("tried", [])]:
                rule["conditions"] = [c for c in rule["conditions"] if c["code"] != "repeat_caller"]
        result["accept_by"] = ticket_accept_by(ticket)
        result["assist_missing"] = [d.pk for d in ticket_assist_missing(ticket)]
        return Response(result)

    @extend_schema(methods=["GET"], responses={200: s.AssistInputSerializer(many=True), 404: NOT_FOUND}, request=None)
    @extend_schema(
        methods=["POST"],
        request=s.AssistInputCreateSerializer,
        responses={201: s.AssistInputSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def assist(self, request: Request, number: str, format: str | None = None) -> Response:
        """Joint handling (联办): the assisting departments' input, which the lead's reply waits for.

        POST by an assisting department adds its input; by a supervisor, waives a department's input.
        """
        ticket = self.get_object()
        if request.method == "GET":
            return Response(s.AssistInputSerializer(ticket_assist_inputs(ticket), many=True).data)
        form = s.AssistInputCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        entry = ticket_assist_input(ticket, actor=request.user, **form.validated_data)
        return Response(s.AssistInputSerializer(entry).data, status=status.HTTP_201_CREATED)

    def _out(self, ticket: Ticket) -> dict:
        # Read back with the list's joins. A department that has just returned a ticket no longer
        # sees it, but is still owed the result of its own action.
        visible = tickets_visible_to(self.request.user).prefetch_related("assisting_departments")
        ticket = visible.filter(pk=ticket.pk).first() or ticket
        return s.TicketSerializer(ticket, context=self.get_serializer_context()).data

    def _transition(self, request: Request, name: str) -> Response:
        ticket = self.get_object()
        form = s.TRANSITION_INPUT[name](data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        ticket = TRANSITION_FUNCTIONS[name](ticket, actor=request.user, **form.validated_data)
        return Response(self._out(ticket))


def _transition_endpoint(name: str):
    def endpoint(self: TicketViewSet, request: Request, number: str, format: str | None = None) -> Response:
        return self._transition(request, name)

    # Prefixed: "dispatch" and "return" would otherwise shadow the view's own methods.
    endpoint.__name__ = f"transition_{name}"
    sources, target = TRANSITIONS[name]
    endpoint.__doc__ = (
        f"{Action(name).label}: {', '.join(sources)} → {target} (the lifecycle: docs/lifecycle.md). "
        "From any other status: 409 with the allowed actions and next statuses; nothing changes."
    )
    slug = name.replace("_", "-")
    endpoint = action(detail=True, methods=["post"], url_path=slug, url_name=slug)(endpoint)
    # After @action, which would otherwise replace the schema annotation.
    responses = {200: s.TicketSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT}
    return extend_schema(request=s.TRANSITION_INPUT[name], responses=responses)(endpoint)


for _name in TRANSITION_FUNCTIONS:
    setattr(TicketViewSet, f"transition_{_name}", _transition_endpoint(_name))


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("phone", str, description="Caller ID lookup (any format)."),
            OpenApiParameter("id_number", str, description="Exact ID number lookup (through its keyed hash)."),
            OpenApiParameter("q", str, description="Name contains."),
        ]
    )
)
class CitizenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Citizens (统一身份), masked. Hotline staff only; department staff get 404."""

    serializer_class = s.CitizenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Citizen.objects.none()
        if self.action != "list":
            return citizens_visible_to(self.request.user)
        params = self.request.query_params
        return citizens_search(
            self.request.user,
            phone=params.get("phone", "").strip(),
            id_number=params.get("id_number", "").strip(),
            name=params.get("q", "").strip(),
        )

    @extend_schema(request=s.CitizenCreateSerializer, responses={201: s.CitizenSerializer, 400: INVALID})
    def create(self, request: Request, format: str | None = None) -> Response:
        if not (request.user.is_superuser or request.user.is_hotline_staff):
            raise Http404
        form = s.CitizenCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        citizen = actions.citizen_create(**form.validated_data)
        return Response(s.CitizenSerializer(citizen).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PhoneSerializer, responses={201: s.CitizenSerializer})
    @action(detail=True, methods=["post"])
    def phones(self, request: Request, pk: str, format: str | None = None) -> Response:
        citizen = self.get_object()
        form = s.PhoneSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        actions.citizen_add_phone(citizen, **form.validated_data)
        citizen = self.get_queryset().get(pk=citizen.pk)
        return Response(s.CitizenSerializer(citizen).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RevealSerializer,
        responses={200: s.RevealedCitizenSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, pk: str, format: str | None = None) -> Response:
        """The unmasked ID number and phones; needs a permission and a reason, and is audited."""
        citizen = self.get_object()
        form = s.RevealSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return Response(actions.citizen_reveal(citizen, user=request.user, reason=form.validated_data["reason"]))


class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Departments (承办单位); edited in the admin."""

    queryset = Department.objects.all()
    serializer_class = s.DepartmentSerializer
    filterset_fields = ["is_active"]


class DistrictViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = District.objects.all()
    serializer_class = s.DistrictSerializer
    pagination_class = None


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """The category tree (事项分类), parents before children; `?parent=` lists one level."""

    serializer_class = s.CategorySerializer
    pagination_class = None
    filterset_fields = ["parent", "is_active"]

    queryset = Category.objects.all()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["leaf_ids"] = set(Category.objects.exclude(children__isnull=False).values_list("pk", flat=True))
        return context
