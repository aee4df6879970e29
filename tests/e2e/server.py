"""The end-to-end test's server side, run in a subprocess: prepare the demo database.

python -m tests.e2e.server prepare           migrate, load the demo city, add a routing rule,
                                             print the facts the browser test checks (JSON)
"""

import json
import os
import sys

# The demo city's water department and its "停水" (water cut) category: the routing rule below sends
# one to the other, so the console has a suggestion to show.
DEPARTMENT = "water"
CATEGORY = "water-cut"
OPERATOR, SUPERVISOR, PASSWORD = "huawu1", "banzhang", "demo12345"


def prepare() -> dict:
    from django.core.management import call_command
    from django.db.models import Count

    from routing.actions import rule_save
    from routing.rules.spec import RuleSpec
    from tickets.demo import DEMO_PASSWORD
    from tickets.models import Category, Citizen, Department, User
    from tickets.pii import phone_mask, phone_national, pii_decrypt

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    assert DEMO_PASSWORD == PASSWORD, "the demo password changed: update tests/e2e/server.py"
    department = Department.objects.get(code=DEPARTMENT)
    category = Category.objects.get(code=CATEGORY)
    rule_save(
        RuleSpec(name="停水由水务局办理", categories=(category.pk,), lead_department=department.pk, priority=10),
        actor=None,
    )
    # The caller: the demo citizen with the most earlier tickets and one phone, so the pop has a history.
    citizen = (
        Citizen.objects.exclude(id_encrypted="")
        .annotate(phone_count=Count("phones", distinct=True), ticket_count=Count("tickets", distinct=True))
        .filter(phone_count=1)
        .order_by("-ticket_count", "pk")
        .first()
    )
    phone = citizen.phones.get().number
    operator = User.objects.get(username=OPERATOR)
    return {
        "operator": {"username": OPERATOR, "password": PASSWORD, "extension": operator.extension},
        "supervisor": {"username": SUPERVISOR, "password": PASSWORD},
        "department": {"username": DEPARTMENT, "password": PASSWORD, "id": department.pk, "name": department.name},
        "category": {"id": category.pk, "name": category.name},
        "citizen": {
            "name": citizen.name,
            "id_number": pii_decrypt(citizen.id_encrypted),
            "id_masked": citizen.id_masked,
            "phone": phone_national(phone),
            "phone_e164": phone,
            "phone_masked": phone_mask(phone),
            "tickets": citizen.ticket_count,
        },
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    import django

    django.setup()
    command = (sys.argv[1:] or ["?"])[0]
    if command == "prepare":
        print(json.dumps(prepare(), ensure_ascii=False))
    else:
        sys.exit(f"usage: python -m tests.e2e.server prepare; not {command!r}")


if __name__ == "__main__":
    main()
