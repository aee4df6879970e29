"""The shape of routing's API input and output; what a rule may contain is checked once, in routing.rules."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tickets.api.serializers import VisibleCitizenField
from tickets.models import Category, Channel, District, Kind, Urgency

from .models import Escalation, ReturnReason, Rule
from .rules import SPEC_FIELDS, RuleChange, RuleSpec
from .selectors import SIMULATE_DEFAULT, SIMULATE_MAX


class RuleSerializer(serializers.ModelSerializer):
    lead_department_name = serializers.CharField(source="lead_department.name", read_only=True, default=None)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Rule
        fields = [
            *SPEC_FIELDS,
            "lead_department_name",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = fields


# Ids as the database stores them (64-bit): a larger number is refused as bad input, not an overflow.
ID = {"min_value": 1, "max_value": 2**63 - 1}


def _ids(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.IntegerField(**ID), required=False, **kwargs)


def _codes(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), required=False, **kwargs)


class RuleInputSerializer(serializers.Serializer):
    """A rule's fields, every one optional here: unknown departments, empty conditions, impossible
    limits and the like are refused by routing.rules with one message per field."""

    id = serializers.IntegerField(
        required=False, allow_null=True, **ID, help_text="In a bulk change: the rule to replace."
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    priority = serializers.IntegerField(required=False, min_value=0, help_text="Lower first; the first match wins.")
    is_active = serializers.BooleanField(required=False)
    note = serializers.CharField(required=False, allow_blank=True)
    kinds = _codes(help_text=f"Any of: {', '.join(Kind.values)}.")
    categories = _ids(help_text="Category ids; each matches its whole subtree.")
    districts = _ids()
    keywords = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=True),
        required=False,
        help_text="Phrases found anywhere in the title or description (no word segmentation); any one is enough.",
    )
    urgencies = _codes(help_text=f"Any of: {', '.join(Urgency.values)}.")
    channels = _codes(help_text=f"Any of: {', '.join(Channel.values)}.")
    repeat_count = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=32767)
    repeat_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=32767)
    time_from = serializers.TimeField(required=False, allow_null=True, help_text="Asia/Shanghai, HH:MM.")
    time_to = serializers.TimeField(required=False, allow_null=True, help_text="Before time_from: over midnight.")
    day_type = serializers.CharField(required=False, allow_blank=True, help_text="'', 'working' or 'off'.")
    lead_department = serializers.IntegerField(required=False, allow_null=True, **ID)
    assisting_departments = _ids()
    urgency = serializers.CharField(
        required=False, allow_blank=True, help_text="Set the ticket's urgency; '' keeps it."
    )
    limit_working_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=32767)
    limit_hours = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=32767)
    auto_dispatch = serializers.BooleanField(required=False)
    close_first_contact = serializers.BooleanField(required=False)

    def spec(self, base: RuleSpec) -> RuleSpec:
        """`base` with the fields this input gives."""
        return spec_from(self.validated_data, base)


def spec_from(values: dict[str, Any], base: RuleSpec) -> RuleSpec:
    return base.replace(
        **{
            name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items()
            if name in SPEC_FIELDS and name != "id"
        }
    )


class RuleChangeSerializer(serializers.Serializer):
    """Rules to save (with `id`: replaced whole; without: new), rules to delete, and the new order — all or nothing."""

    save = RuleInputSerializer(many=True, required=False, default=list)
    delete = serializers.ListField(child=serializers.IntegerField(**ID), required=False, default=list)
    order = serializers.ListField(
        child=serializers.IntegerField(**ID),
        required=False,
        allow_null=True,
        default=None,
        help_text="Every rule's id, first to last: priorities become 10, 20, …",
    )

    def change(self) -> RuleChange:
        data = self.validated_data
        saves = [spec_from(item, RuleSpec(id=item.get("id"))) for item in data["save"]]
        return RuleChange(save=saves, delete=list(data["delete"]), order=data["order"])


class SimulateSerializer(RuleChangeSerializer):
    last = serializers.IntegerField(
        required=False, default=SIMULATE_DEFAULT, min_value=1, max_value=SIMULATE_MAX, help_text="How many tickets."
    )


class ReorderSerializer(serializers.Serializer):
    order = serializers.ListField(child=serializers.IntegerField(**ID), help_text="Every rule's id, first to last.")


@extend_schema_field(OpenApiTypes.INT)
class CitizenField(VisibleCitizenField):
    """A citizen id the requesting user may see (hotline staff)."""


class DraftTicketSerializer(serializers.Serializer):
    """The operator's form before it is saved: every field optional."""

    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    title = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all(), required=False, allow_null=True)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), required=False, allow_null=True)
    citizen = CitizenField(required=False, allow_null=True)
    caller_number = serializers.CharField(required=False, allow_blank=True)


class ReturnReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReturnReason
        fields = ["code", "name", "name_en", "needs_note", "names_department", "sort", "is_active"]


class EscalateSerializer(serializers.Serializer):
    note = serializers.CharField(
        help_text="Why the ticket is escalated (督办); the department reads it in the timeline."
    )


class EscalationSerializer(serializers.ModelSerializer):
    ticket = serializers.CharField(source="ticket.number", read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)
    department_name = serializers.CharField(source="department", read_only=True, default=None)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Escalation
        fields = [
            "id",
            "ticket",
            "reason",
            "reason_display",
            "department",
            "department_name",
            "deadline",
            "note",
            "created_at",
            "created_by",
            "resolved_at",
        ]
        read_only_fields = fields
