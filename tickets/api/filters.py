"""Query-string filters of the ticket list; a value that cannot mean anything is a 400, never ignored."""

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from .. import clock
from ..models import WITH_DEPARTMENT, Category, Channel, Department, District, Kind, Status, Ticket, Urgency


class CommaMultipleChoiceFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """?status=dispatched,accepted"""


# A strict yes/no: django-filter's boolean filters read "maybe" as "no filter" and answer everything.
YES_NO = [("true", _("Yes")), ("false", _("No")), ("1", _("Yes")), ("0", _("No"))]


class TicketFilter(django_filters.FilterSet):
    status = CommaMultipleChoiceFilter(choices=Status.choices, help_text="One status or several, comma-separated.")
    kind = CommaMultipleChoiceFilter(choices=Kind.choices, help_text="One kind or several, comma-separated.")
    channel = CommaMultipleChoiceFilter(choices=Channel.choices)
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)
    department = django_filters.ModelChoiceFilter(
        field_name="lead_department", queryset=Department.objects.all(), help_text="Lead department id."
    )
    district = django_filters.ModelChoiceFilter(queryset=District.objects.all())
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(), method="filter_category", help_text="A category and its whole subtree."
    )
    overdue = django_filters.ChoiceFilter(
        choices=YES_NO,
        method="filter_overdue",
        help_text="true: held by a department past its deadline; false: every other ticket.",
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601 date or time, inclusive."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601 date or time, exclusive."
    )
    q = django_filters.CharFilter(
        method="filter_text", help_text="Number starts with, or title, description or address contains."
    )

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet[Ticket], name: str, value: Category) -> QuerySet[Ticket]:
        return queryset.filter(category__path__startswith=value.path)

    def filter_overdue(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        late = Q(status__in=WITH_DEPARTMENT, deadline__lt=clock.now())
        return queryset.filter(late) if value in ("true", "1") else queryset.exclude(late)

    def filter_text(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(number__startswith=value)
            | Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(address__icontains=value)
        )
