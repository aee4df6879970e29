"""Start the whole platform in one process: pages, API, websockets, the AGI port and the clocks."""

from daphne.server import Server  # isort: skip  (installs Twisted's asyncio reactor first)

import asyncio
import gc

from channels.routing import get_default_application
from django.conf import settings
from django.core.management.base import BaseCommand
from twisted.internet import reactor

from callcentre import scheduler
from telephony.agi import stub as agi_stub


class Command(BaseCommand):
    help = "Serve the hotline platform (ASGI via daphne), the FastAGI port and the periodic jobs in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--agi-host", default=settings.AGI_HOST)
        parser.add_argument("--agi-port", type=int, default=settings.AGI_PORT)
        parser.add_argument("--no-agi", action="store_true", help="Do not listen for FastAGI.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not run the periodic jobs here.")

    def handle(self, *args, **options):
        application = get_default_application()
        # Objects alive at start-up never become garbage: freezing them keeps full collections
        # short, which keeps websocket latency flat under load.
        gc.collect()
        gc.freeze()
        background: list[asyncio.Future] = []

        def start_side_services():
            if not options["no_agi"]:
                background.append(asyncio.ensure_future(self._start_agi(options["agi_host"], options["agi_port"])))
            if not options["no_scheduler"]:
                background.append(asyncio.ensure_future(scheduler.run_forever()))

        def ready():
            self.stdout.write(self.style.SUCCESS(self._banner(options)))

        reactor.callWhenRunning(start_side_services)
        server = Server(
            application=application,
            endpoints=[f"tcp:port={options['port']}:interface={options['host']}"],
            signal_handlers=True,
            ready_callable=ready,
            verbosity=0,
        )
        server.run()
        for future in background:
            future.cancel()

    async def _start_agi(self, host: str, port: int) -> None:
        await agi_stub.serve(host, port)

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
