"""Query-string filters of the ticket list."""

import django_filters
from django.db.models import Q, QuerySet

from .. import clock
from ..models import WITH_DEPARTMENT, Category, Channel, Kind, Status, Ticket, Urgency


class CommaMultipleChoiceFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """?status=dispatched,accepted"""


class TicketFilter(django_filters.FilterSet):
    status = CommaMultipleChoiceFilter(choices=Status.choices, help_text="One status or several, comma-separated.")
    kind = CommaMultipleChoiceFilter(choices=Kind.choices)
    channel = CommaMultipleChoiceFilter(choices=Channel.choices)
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)
    department = django_filters.NumberFilter(field_name="lead_department", help_text="Lead department id.")
    district = django_filters.NumberFilter(field_name="district")
    category = django_filters.NumberFilter(method="filter_category", help_text="A category and its whole subtree.")
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="filter_text", help_text="Number, title, description or address contains.")

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet[Ticket], name: str, value: int) -> QuerySet[Ticket]:
        node = Category.objects.filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(category__path__startswith=node.path)

    def filter_overdue(self, queryset: QuerySet[Ticket], name: str, value: bool) -> QuerySet[Ticket]:
        late = Q(status__in=WITH_DEPARTMENT, deadline__lt=clock.now())
        return queryset.filter(late) if value else queryset.exclude(late)

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
