"""factory_boy factories and a helper that walks a ticket to any status through the real actions."""

import datetime

import factory

from tickets import actions
from tickets.models import Category, Department, District, Role, Status, Ticket, User


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"dept{n}")
    name = factory.Sequence(lambda n: f"市第{n}局")
    name_en = factory.Sequence(lambda n: f"Bureau {n}")


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"4413{n:02d}")
    name = factory.Sequence(lambda n: f"第{n}区")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    code = factory.Sequence(lambda n: f"cat{n}")
    name = factory.Sequence(lambda n: f"分类{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.OPERATOR
    password = factory.django.Password("pw-for-tests-1")


# The path of actions that reaches each status from a fresh registered ticket.
def advance(ticket: Ticket, status: str, *, hotline: User, department_user: User, supervisor: User) -> Ticket:
    """Drive `ticket` (registered) to `status` through the real actions, as people would."""
    dept = department_user.department
    steps = {
        Status.REGISTERED: [],
        Status.CLOSED_FIRST_CONTACT: [lambda t: actions.ticket_close_first_contact(t, actor=hotline, answer="已解答")],
        Status.DISPATCHED: [lambda t: actions.ticket_dispatch(t, actor=hotline, department=dept)],
        Status.CANCELLED: [lambda t: actions.ticket_cancel(t, actor=supervisor, reason="测试来电")],
    }
    dispatched = steps[Status.DISPATCHED]
    accepted = [*dispatched, lambda t: actions.ticket_accept(t, actor=department_user)]
    replied = [*accepted, lambda t: actions.ticket_reply(t, actor=department_user, reply="已处理")]
    steps.update(
        {
            Status.ACCEPTED: accepted,
            Status.RETURNED: [
                *dispatched,
                lambda t: actions.ticket_return(t, actor=department_user, reason="非本单位职责"),
            ],
            Status.EXTENSION_REQUESTED: [
                *accepted,
                lambda t: actions.ticket_request_extension(
                    t, actor=department_user, until=t.deadline + datetime.timedelta(days=5), reason="需现场勘查"
                ),
            ],
            Status.REPLIED: replied,
            Status.CLOSED: [*replied, lambda t: actions.ticket_close(t, actor=hotline, satisfaction="satisfied")],
            Status.REOPENED: [*replied, lambda t: actions.ticket_reopen(t, actor=hotline, note="问题未解决")],
        }
    )
    for step in steps[status]:
        ticket = step(ticket)
    return ticket
