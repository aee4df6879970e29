"""REST endpoints: parse input, call one action or selector, respond."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import actions
from ..models import Action, Category, Department, District, Ticket, TimelineEntry
from ..pii import id_number_clean, pii_hash
from ..selectors import citizens_by_phone, citizens_visible_to, ticket_get_for, tickets_visible_to
from . import serializers as s
from .filters import TicketFilter

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
}


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Tickets (工单). Department staff see only their department's tickets; others answer 404."""

    lookup_field = "number"
    lookup_value_regex = r"\d+"
    filterset_class = TicketFilter
    serializer_class = s.TicketSerializer

    def get_queryset(self):
        return tickets_visible_to(self.request.user).prefetch_related("assisting_departments")

    def get_object(self) -> Ticket:
        return ticket_get_for(self.request.user, self.kwargs["number"])

    @extend_schema(request=s.TicketWriteSerializer, responses={201: s.TicketSerializer})
    def create(self, request: Request) -> Response:
        form = s.TicketWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        ticket = actions.ticket_create(actor=request.user, register=data.pop("register"), **data)
        return Response(self._out(ticket), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TicketUpdateSerializer, responses=s.TicketSerializer)
    def partial_update(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        form = s.TicketUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        version = data.pop("version", None)
        if version is None:
            return Response(
                {"error": {"code": "version_required", "message": "Send the version you read, to avoid lost updates."}},
                status=status.HTTP_428_PRECONDITION_REQUIRED,
            )
        ticket = actions.ticket_update(ticket, actor=request.user, version=version, **data)
        return Response(self._out(ticket))

    @extend_schema(responses=s.TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        entries = TimelineEntry.objects.filter(ticket=ticket).select_related("actor")
        return Response(s.TimelineEntrySerializer(entries, many=True).data)

    def _out(self, ticket: Ticket) -> dict:
        ticket = tickets_visible_to(self.request.user).prefetch_related("assisting_departments").get(pk=ticket.pk)
        return s.TicketSerializer(ticket, context=self.get_serializer_context()).data

    def _transition(self, request: Request, number: str, name: str) -> Response:
        ticket = self.get_object()
        form = s.TRANSITION_INPUT[name](data=request.data)
        form.is_valid(raise_exception=True)
        ticket = TRANSITION_FUNCTIONS[name](ticket, actor=request.user, **form.validated_data)
        return Response(self._out(ticket))


def _transition_endpoint(name: str):
    def endpoint(self: TicketViewSet, request: Request, number: str) -> Response:
        return self._transition(request, number, name)

    # Prefixed: "dispatch" and "return" would otherwise shadow the view's own methods.
    endpoint.__name__ = f"transition_{name}"
    endpoint.__doc__ = f"{Action(name).label}: see the lifecycle in docs/lifecycle.md. 409 lists the allowed actions."
    endpoint = extend_schema(request=s.TRANSITION_INPUT[name], responses=s.TicketSerializer)(endpoint)
    return action(detail=True, methods=["post"], url_path=name.replace("_", "-"), url_name=name.replace("_", "-"))(
        endpoint
    )


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
        citizens = citizens_visible_to(self.request.user).order_by("-id")
        params = self.request.query_params
        if params.get("phone"):
            citizens = citizens & citizens_by_phone(params["phone"])
        if params.get("id_number"):
            citizens = citizens.filter(id_hash=pii_hash(id_number_clean(params["id_number"])))
        if params.get("q"):
            citizens = citizens.filter(name__icontains=params["q"])
        return citizens

    @extend_schema(request=s.CitizenCreateSerializer, responses={201: s.CitizenSerializer})
    def create(self, request: Request) -> Response:
        if not (request.user.is_superuser or request.user.is_hotline_staff):
            raise Http404
        form = s.CitizenCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        citizen = actions.citizen_create(**form.validated_data)
        return Response(s.CitizenSerializer(citizen).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PhoneSerializer, responses={201: s.CitizenSerializer})
    @action(detail=True, methods=["post"])
    def phones(self, request: Request, pk: str) -> Response:
        citizen = self.get_object()
        form = s.PhoneSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        actions.citizen_add_phone(citizen, **form.validated_data)
        citizen = self.get_queryset().get(pk=citizen.pk)
        return Response(s.CitizenSerializer(citizen).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RevealSerializer, responses=s.RevealedCitizenSerializer)
    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, pk: str) -> Response:
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
