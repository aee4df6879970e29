"""The end-to-end test's server side, run in a subprocess: prepare the demo database, or serve it.

    python -m tests.e2e.server prepare           migrate, load the demo city, add a routing rule,
                                                 print the facts the browser test checks (JSON)
    python -m tests.e2e.server serve ARGS...     `manage.py runhotline ARGS...` with the AMI listener
                                                 in the same process (HOTLINE_AMI_* settings)

Why `serve` exists: the embedded mode's in-memory channel layer only reaches the sockets of its own
process, and runhotline hosts the pages, the websockets and the FastAGI bridge but not the AMI
listener, so a `manage.py ami_listener` beside it would relay its screen pops to nobody. Over Redis
the test runs the two real commands side by side instead, as production does.
"""

from daphne.server import Server  # noqa: F401  isort: skip  (installs Twisted's asyncio reactor first, as runhotline)

import asyncio
import json
import os
import sys
import threading

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


def serve(argv: list[str]) -> None:
    from asgiref.sync import SyncToAsync
    from django.conf import settings
    from django.core.management import call_command
    from twisted.internet import reactor, threads

    from telephony.ami.listener import AmiListener

    listener = AmiListener(
        host=settings.AMI_HOST,
        port=settings.AMI_PORT,
        username=settings.AMI_USERNAME,
        secret=settings.AMI_SECRET,
        backoff_initial=0.2,
        backoff_max=2.0,
    )
    thread: list[threading.Thread] = []

    def start() -> None:
        loop = asyncio.get_event_loop()

        def run() -> None:
            # As runhotline does for the bridge's threads: the publisher's async_to_sync then relays on
            # daphne's loop, which owns the in-memory layer's queues.
            SyncToAsync.threadlocal.main_event_loop, SyncToAsync.threadlocal.main_event_loop_pid = loop, os.getpid()
            listener.run()

        thread.append(threading.Thread(target=run, name="ami-listener", daemon=True))
        thread[0].start()

    def stop() -> None:
        listener.stop()
        for started in thread:
            started.join(timeout=5)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: threads.deferToThread(stop))
    call_command("runhotline", *argv)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    import django

    django.setup()
    command, *argv = sys.argv[1:] or ["?"]
    if command == "prepare":
        print(json.dumps(prepare(), ensure_ascii=False))
    elif command == "serve":
        serve(argv)
    else:
        sys.exit(f"usage: python -m tests.e2e.server prepare | serve [runhotline arguments]; not {command!r}")


if __name__ == "__main__":
    main()
