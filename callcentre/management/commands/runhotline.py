"""Start the whole platform in one process: pages, API, websockets, the AGI bridge, the AMI listener, the clocks."""

from daphne.server import Server  # isort: skip  (installs Twisted's asyncio reactor first)

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator

from asgiref.sync import SyncToAsync
from channels.routing import get_default_application
from django.conf import settings
from django.core.management.base import BaseCommand
from twisted.internet import reactor, threads

from callcentre import scheduler
from callcentre.heap import heap_freeze
from telephony.ami.client import ManagerAuthException
from telephony.ami.listener import AmiListener
from telephony.bridge import Bridge, BridgeService

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve the hotline platform (ASGI via daphne), the FastAGI bridge and the periodic jobs in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--agi-host", default=settings.AGI_HOST)
        parser.add_argument("--agi-port", type=int, default=settings.AGI_PORT)
        parser.add_argument("--no-agi", action="store_true", help="Do not listen for FastAGI.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not run the periodic jobs here.")
        parser.add_argument(
            "--no-ami",
            action="store_true",
            help="Do not run the AMI listener here (by default it runs when HOTLINE_AMI_SECRET is set).",
        )

    def handle(self, *args, **options):
        application = get_default_application()
        # callcentre.asgi froze the heap as it was imported; the bridge and scheduler modules
        # imported since live as long too (callcentre/heap.py: full collections stall sockets).
        heap_freeze()
        background: list[asyncio.Future] = []
        events = _DaphneLoop()
        agi = None
        if not options["no_agi"]:
            # The bridge's threads run beside daphne's loop in this process, so the in-memory channel
            # layer carries their events to the websockets.
            agi = BridgeService(
                Bridge.from_settings(),
                host=options["agi_host"],
                port=options["agi_port"],
                allowed_hosts=settings.AGI_ALLOWED_HOSTS,
                thread_context=events.context,
            )
            agi.start()

        # The AMI listener runs here too when Asterisk's manager is configured: with the in-memory
        # layer a separate `manage.py ami_listener` would relay its screen pops to nobody.
        ami = None if options["no_ami"] or not settings.AMI_SECRET else _AmiThread(events)

        def start_side_services():
            events.loop = asyncio.get_event_loop()
            if not options["no_scheduler"]:
                background.append(asyncio.ensure_future(scheduler.run_forever()))
            if ami is not None:
                ami.start()

        def drain_agi():
            # Before the reactor (and with it the loop the bridge publishes through) stops: calls in
            # progress finish, up to the drain time, while their events can still be delivered.
            self.stdout.write(f"Stopping the FastAGI bridge: {agi.server.active_sessions} call(s) in progress")
            return threads.deferToThread(agi.stop, settings.AGI_DRAIN_SECONDS)

        def ready():
            self.stdout.write(self.style.SUCCESS(self._banner(options)))

        reactor.callWhenRunning(start_side_services)
        if agi is not None:
            reactor.addSystemEventTrigger("before", "shutdown", drain_agi)
        if ami is not None:
            reactor.addSystemEventTrigger("before", "shutdown", lambda: threads.deferToThread(ami.stop))
        server = Server(
            application=application,
            endpoints=[f"tcp:port={options['port']}:interface={options['host']}"],
            signal_handlers=True,
            ready_callable=ready,
            verbosity=0,
        )
        try:
            server.run()
        finally:
            events.loop = None
            for future in background:
                future.cancel()
            if agi is not None:
                agi.stop(settings.AGI_DRAIN_SECONDS)  # a no-op when the shutdown trigger drained it
            if ami is not None:
                ami.stop()

    def _banner(self, options) -> str:
        base = f"http://{options['host']}:{options['port']}"
        lines = [
            "",
            "12345 hotline platform is running",
            f"  Pages (login)     {base}/",
            f"  REST API          {base}/api/",
            f"  API docs          {base}/api/docs/",
            f"  Admin             {base}/admin/",
            f"  Websocket         ws://{options['host']}:{options['port']}/ws/events/",
        ]
        if not options["no_agi"]:
            lines.append(f"  FastAGI           agi://{options['agi_host']}:{options['agi_port']}/hotline")
        if not options["no_ami"] and settings.AMI_SECRET:
            lines.append(f"  AMI listener      {settings.AMI_USERNAME}@{settings.AMI_HOST}:{settings.AMI_PORT}")
        lines += [
            f"  Citizens' form    {base}/public/",
            f"  Open311 API       {base}/open311/v2/services.json",
        ]
        try:
            from tickets.demo import DEMO_LOGINS
        except ImportError:  # pragma: no cover - demo data is optional in production installs
            DEMO_LOGINS = []
        if DEMO_LOGINS:
            staff = [login for login in DEMO_LOGINS if login.role != "department"]
            departments = [login for login in DEMO_LOGINS if login.role == "department"]
            lines.append(f"  Demo logins (password {DEMO_LOGINS[0].password} for all):")
            lines.extend(f"    {login.username:<12} {login.role}" for login in staff)
            if departments:
                examples = ", ".join(f"{d.username} ({d.department})" for d in departments[:3])
                lines.append(f"    department staff: one per department, username = department code: {examples}, ...")
        lines.append("Press Ctrl+C to stop.")
        return "\n".join(lines)


class _AmiThread:
    """The AMI listener on a thread of its own, publishing through daphne's loop like the bridge."""

    def __init__(self, events: "_DaphneLoop") -> None:
        self.events = events
        self.listener = AmiListener(
            host=settings.AMI_HOST,
            port=settings.AMI_PORT,
            username=settings.AMI_USERNAME,
            secret=settings.AMI_SECRET,
            backoff_initial=0.2,
            backoff_max=10.0,
        )
        self.thread = threading.Thread(target=self._run, name="ami-listener", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.listener.stop()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self) -> None:
        with self.events.context():
            try:
                self.listener.run()
            except ManagerAuthException as exc:
                log.error(
                    "Asterisk at %s refused the AMI login of %r (%s): the listener stopped. Check "
                    "HOTLINE_AMI_USERNAME and HOTLINE_AMI_SECRET against manager.conf.",
                    self.listener.server,
                    settings.AMI_USERNAME,
                    exc,
                )


class _DaphneLoop:
    """Sends the events of a bridge thread through daphne's event loop.

    The publisher relays with async_to_sync. From a plain thread that starts a private loop, and the
    in-memory layer's queues, which belong to daphne's loop, are then touched from a foreign thread:
    the message lands, but the consumer only wakes at the loop's next timer (about a second later)
    and nothing guards the queue. async_to_sync runs on the loop it finds in asgiref's thread-local
    (as in threads that sync_to_async starts), so each bridge thread gets daphne's loop there while
    that loop runs. Without it (another asgiref) events still arrive, only late.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        loop = self.loop
        local = SyncToAsync.threadlocal
        if loop is None or not loop.is_running():
            yield
            return
        local.main_event_loop, local.main_event_loop_pid = loop, os.getpid()
        try:
            yield
        finally:
            local.main_event_loop = local.main_event_loop_pid = None
