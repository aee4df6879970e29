"""The shape of the API's input and output; personal data leaves only masked."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routing.models import RETURNS_FLAGGED, AssistInput

from .. import clock
from ..models import (
    Action,
    Article,
    Category,
    Citizen,
    Department,
    District,
    Satisfaction,
    Ticket,
    TimelineEntry,
    allowed_actions,
)
from ..pii import phone_clean, phone_mask
from ..selectors import citizens_visible_to, reporter_hidden_from, tickets_visible_to


def _user(context: dict):
    request = context.get("request")
    return request.user if request is not None else None


class VisibleCitizenField(serializers.PrimaryKeyRelatedField):
    """A citizen id, checked against the citizens the requesting user may see."""

    def get_queryset(self):
        return citizens_visible_to(_user(self.context))


@extend_schema_field(OpenApiTypes.STR)
class VisibleTicketField(serializers.SlugRelatedField):
    """Another ticket by number, checked against the tickets the requesting user may see."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="number", **kwargs)

    def get_queryset(self):
        return tickets_visible_to(_user(self.context))


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name", "name_en", "phone", "is_active"]


class DistrictSerializer(serializers.ModelSerializer):
    class Meta:
        model = District
        fields = ["id", "code", "name", "name_en"]


class CategorySerializer(serializers.ModelSerializer):
    is_leaf = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "parent", "code", "name", "name_en", "path", "sort", "is_leaf", "is_active"]

    def get_is_leaf(self, obj: Category) -> bool:
        leaves = self.context.get("leaf_ids")
        return obj.pk in leaves if leaves is not None else obj.is_leaf


class CitizenSerializer(serializers.ModelSerializer):
    """A citizen as every screen shows them: ID number and phones masked."""

    phones = serializers.SerializerMethodField()

    class Meta:
        model = Citizen
        fields = ["id", "name", "id_masked", "phones", "address", "district", "created_at"]

    def get_phones(self, obj: Citizen) -> list[str]:
        return [phone.masked for phone in obj.phones.all()]


class CitizenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    id_number = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    phones = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all(), required=False, allow_null=True)


class PhoneSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=32)
    label = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    def validate_number(self, value: str) -> str:
        try:
            return phone_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class RevealSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class RevealedCitizenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    id_number = serializers.CharField()
    phones = serializers.ListField(child=serializers.CharField())


class TicketSerializer(serializers.ModelSerializer):
    """A ticket for the API. Caller number masked; a report's reporter hidden from departments."""

    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    channel_display = serializers.CharField(source="get_channel_display", read_only=True)
    lead_department_name = serializers.CharField(source="lead_department.name", read_only=True, default=None)
    article_title = serializers.CharField(source="article.title", read_only=True, default=None)
    district_name = serializers.CharField(source="district.name", read_only=True, default=None)
    category_name = serializers.SerializerMethodField()
    citizen = serializers.SerializerMethodField()
    caller_number = serializers.SerializerMethodField()
    merged_into = serializers.SlugRelatedField(slug_field="number", read_only=True)
    overdue = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    return_flagged = serializers.SerializerMethodField(
        help_text="Returned twice or more: waiting for a supervisor, who alone dispatches it again."
    )

    class Meta:
        model = Ticket
        fields = [
            "number",
            "kind",
            "kind_display",
            "channel",
            "channel_display",
            "status",
            "status_display",
            "urgency",
            "title",
            "description",
            "address",
            "district",
            "district_name",
            "category",
            "category_name",
            "citizen",
            "caller_number",
            "lead_department",
            "lead_department_name",
            "assisting_departments",
            "deadline",
            "overdue",
            "seconds_left",
            "extension_until",
            "answer",
            "article",
            "article_title",
            "reply",
            "satisfaction",
            "return_count",
            "return_flagged",
            "merged_into",
            "external_ref",
            "created_at",
            "registered_at",
            "dispatched_at",
            "replied_at",
            "closed_at",
            "updated_at",
            "version",
            "allowed_actions",
        ]
        read_only_fields = fields

    def _hidden(self, obj: Ticket) -> bool:
        return reporter_hidden_from(self.context["request"].user, obj)

    def get_category_name(self, obj: Ticket) -> str | None:
        return str(obj.category) if obj.category_id else None

    def get_citizen(self, obj: Ticket) -> dict | None:
        if obj.citizen_id is None or self._hidden(obj):
            return None
        return {"id": obj.citizen.pk, "name": obj.citizen.name, "id_masked": obj.citizen.id_masked}

    def get_caller_number(self, obj: Ticket) -> str:
        return "" if self._hidden(obj) else phone_mask(obj.caller_number)

    def get_overdue(self, obj: Ticket) -> bool:
        return obj.is_overdue(self.context.get("now"))

    def get_seconds_left(self, obj: Ticket) -> int | None:
        if obj.deadline is None or obj.is_terminal:
            return None
        return int((obj.deadline - (self.context.get("now") or clock.now())).total_seconds())

    def get_allowed_actions(self, obj: Ticket) -> list[str]:
        return allowed_actions(obj.status)

    def get_return_flagged(self, obj: Ticket) -> bool:
        return obj.return_count >= RETURNS_FLAGGED

    def to_representation(self, instance: Ticket) -> dict:
        data = super().to_representation(instance)
        if self._hidden(instance):
            data["external_ref"] = None
        return data


class TicketWriteSerializer(serializers.ModelSerializer):
    """Open a ticket: registered at once, or a draft with `register: false`."""

    register = serializers.BooleanField(default=True, write_only=True)
    citizen = VisibleCitizenField(required=False, allow_null=True)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(is_active=True), required=False, allow_null=True
    )

    class Meta:
        model = Ticket
        fields = [
            "register",
            "kind",
            "channel",
            "urgency",
            "title",
            "description",
            "address",
            "district",
            "category",
            "citizen",
            "caller_number",
            "external_ref",
        ]


class TicketUpdateSerializer(TicketWriteSerializer):
    version = serializers.IntegerField(help_text="The version you read; a stale one is refused with 409.")

    class Meta(TicketWriteSerializer.Meta):
        fields = [f for f in TicketWriteSerializer.Meta.fields if f not in ("register", "external_ref")] + ["version"]


def timeline_action_label(entry: TimelineEntry) -> str:
    """The action's label; on a main ticket, a duplicate merged into it (a `merge` entry naming `merged`)."""
    if entry.action == Action.MERGE and "merged" in (entry.data or {}):
        return str(_("Duplicate merged in"))
    return entry.get_action_display()


# Timeline data that would identify a report's reporter to the department handling it.
REPORTER_FIELDS = ("citizen", "caller_number")


class TimelineEntrySerializer(serializers.ModelSerializer):
    """One line of history; with `hide_reporter` in the context, edits of the reporter are left out."""

    action_display = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()

    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "action", "action_display", "from_status", "to_status", "actor", "note", "data"]

    def get_action_display(self, obj: TimelineEntry) -> str:
        return timeline_action_label(obj)

    def get_actor(self, obj: TimelineEntry) -> str | None:
        if obj.actor_id is None:
            return None
        return obj.actor.get_full_name() or obj.actor.username

    def get_data(self, obj: TimelineEntry) -> dict:
        data = obj.data or {}
        changed = data.get("changed")
        if not self.context.get("hide_reporter") or not isinstance(changed, dict):
            return data
        return {**data, "changed": {k: v for k, v in changed.items() if k not in REPORTER_FIELDS}}


# Input of each transition endpoint.
class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class DispatchSerializer(NoteSerializer):
    """Whatever is left out comes from the routing suggestion (GET …/routing/ shows it)."""

    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The lead department; left out: the suggested one.",
    )
    assisting = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(),
        many=True,
        required=False,
        default=None,
        help_text="Left out: the suggestion's, when the lead is the suggested department; [] for none.",
    )
    deadline = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ReasonSerializer(NoteSerializer):
    reason = serializers.CharField()


class ReturnSerializer(NoteSerializer):
    code = serializers.SlugField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A return reason's code (GET /api/routing/return-reasons/).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Free text; required only without a code."
    )
    responsible = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The department believed responsible; required by reasons that name one.",
    )


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ExtensionSerializer(serializers.Serializer):
    until = serializers.DateTimeField()
    reason = serializers.CharField()

    def validate_until(self, value):
        if value <= clock.now():
            raise serializers.ValidationError(_("The new date must be in the future."))
        return value


class RequiredNoteSerializer(serializers.Serializer):
    note = serializers.CharField()


class ReplySerializer(serializers.Serializer):
    reply = serializers.CharField()


class AnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="What the citizen was told; default: the article's answer.",
    )
    article = serializers.PrimaryKeyRelatedField(
        queryset=Article.objects.filter(is_published=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="The knowledge-base article the answer came from (GET /api/knowledge/); it must be published.",
        error_messages={"does_not_exist": _("There is no published knowledge article {pk_value}.")},
    )


class CloseSerializer(NoteSerializer):
    satisfaction = serializers.ChoiceField(choices=[Satisfaction.SATISFIED, Satisfaction.BASICALLY])


class ReassignSerializer(serializers.Serializer):
    """A supervisor hands the ticket to another lead department; the deadline follows the routing rules."""

    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(), help_text="The new lead department (not the current one)."
    )
    note = serializers.CharField(help_text="Why the ticket goes to another department.")
    deadline = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Left out: the rule's when the new lead is the suggested department, else the time limit.",
    )


class MergeSerializer(NoteSerializer):
    into = VisibleTicketField(help_text="The number of the main ticket, which carries on for both.")


TRANSITION_INPUT = {
    Action.REGISTER: NoteSerializer,
    Action.CLOSE_FIRST_CONTACT: AnswerSerializer,
    Action.DISPATCH: DispatchSerializer,
    Action.ACCEPT: NoteSerializer,
    Action.RETURN: ReturnSerializer,
    Action.REQUEST_EXTENSION: ExtensionSerializer,
    Action.APPROVE_EXTENSION: NoteSerializer,
    Action.DENY_EXTENSION: RequiredNoteSerializer,
    Action.REPLY: ReplySerializer,
    Action.CLOSE: CloseSerializer,
    Action.REOPEN: RequiredNoteSerializer,
    Action.MERGE: MergeSerializer,
    Action.CANCEL: CancelSerializer,
    Action.REASSIGN: ReassignSerializer,
}


class AssistInputSerializer(serializers.ModelSerializer):
    """An assisting department's input to a joint ticket (联办), or a supervisor's waiver of it."""

    department_name = serializers.CharField(source="department.name", read_only=True)
    author = serializers.SerializerMethodField()

    class Meta:
        model = AssistInput
        fields = ["id", "department", "department_name", "text", "waived", "author", "at"]
        read_only_fields = fields

    def get_author(self, obj: AssistInput) -> str | None:
        if obj.author_id is None:
            return None
        return obj.author.get_full_name() or obj.author.username


class AssistInputCreateSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The input for the lead department; for a waiver, why.")
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Supervisors: the assisting department whose input is waived. Department staff leave it out.",
    )


# The error bodies (tickets/api/errors.py), for the schema.
class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: invalid, not_found, invalid_transition, …")
    message = serializers.CharField(help_text="For people, in the request's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Each invalid input field with its messages (code `invalid`).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ConflictDetailSerializer(ErrorDetailSerializer):
    status = serializers.CharField(required=False, help_text="The ticket's current status.")
    action = serializers.CharField(required=False, help_text="The refused action.")
    allowed_actions = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_next_statuses = serializers.ListField(child=serializers.CharField(), required=False)
    current_version = serializers.IntegerField(required=False, help_text="With stale_version: reload, then retry.")


class ConflictSerializer(serializers.Serializer):
    error = ConflictDetailSerializer()
