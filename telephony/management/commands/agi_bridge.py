"""Run the FastAGI bridge on its own: `manage.py agi_bridge --host 0.0.0.0 --port 4573 --allow 10.0.0.5`."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from callcentre.heap import heap_freeze
from telephony.bridge import Bridge, BridgeService


class Command(BaseCommand):
    help = "Serve FastAGI for Asterisk (the hotline IVR and call records); SIGTERM drains calls in progress."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.AGI_HOST, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.AGI_PORT)
        parser.add_argument(
            "--allow",
            action="append",
            default=None,
            metavar="HOST",
            help="An Asterisk host, network or name allowed in (repeat, or comma-separate). "
            "Default: HOTLINE_AGI_ALLOWED_HOSTS; empty allows any.",
        )
        parser.add_argument(
            "--drain-timeout",
            type=float,
            default=settings.AGI_DRAIN_SECONDS,
            help="Seconds calls in progress may take to finish after SIGTERM.",
        )

    def handle(self, *args, **options):
        allowed = settings.AGI_ALLOWED_HOSTS
        if options["allow"] is not None:
            allowed = [host.strip() for entry in options["allow"] for host in entry.split(",") if host.strip()]
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        service = BridgeService(
            Bridge.from_settings(), host=options["host"], port=options["port"], allowed_hosts=allowed
        )
        try:
            try:
                host, port = service.start()
            except OSError as exc:
                raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc}") from exc
            # Full collections would otherwise walk Django's whole start-up heap: a 60-70 ms stall of
            # every call in progress, every few seconds under load (callcentre/heap.py).
            heap_freeze()
            self.stdout.write(f"FastAGI bridge listening on agi://{host}:{port}/hotline")
            self.stdout.write(f"  allowed Asterisk hosts: {', '.join(allowed) if allowed else 'any'}")
            self.stdout.write(f"  spool: {service.bridge.store.spool.directory}")
            self.stdout.flush()
            while not stop.wait(1.0):
                pass
            active = service.server.active_sessions
            self.stdout.write(
                f"Stopping: no new calls; waiting up to {options['drain_timeout']:g}s for {active} in progress"
            )
            self.stdout.flush()
            drained = service.stop(options["drain_timeout"])
            self.stdout.write("FastAGI bridge stopped" + ("" if drained else " (calls still open were cut)"))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
