"""Run the AMI listener for one Asterisk server until SIGTERM or Ctrl+C."""

import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telephony.ami.client import ManagerAuthException
from telephony.ami.listener import AmiListener


class Command(BaseCommand):
    help = "Listen to Asterisk's manager interface (AMI): call records and the live queue state for the wallboards."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.AMI_HOST, help="Asterisk's AMI address (HOTLINE_AMI_HOST).")
        parser.add_argument("--port", type=int, default=settings.AMI_PORT, help="AMI port (HOTLINE_AMI_PORT).")
        parser.add_argument(
            "--username", default=settings.AMI_USERNAME, help="manager.conf user (HOTLINE_AMI_USERNAME)."
        )
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument(
            "--secret", help="The AMI secret. Prefer --secret-file or HOTLINE_AMI_SECRET(_FILE): other users see argv."
        )
        secret.add_argument("--secret-file", type=Path, help="A file holding the AMI secret.")

    def handle(self, *args, **options):
        secret = self._secret(options)
        listener = AmiListener(host=options["host"], port=options["port"], username=options["username"], secret=secret)
        previous = {}
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda _signum, _frame: listener.stop())
        self.stdout.write(f"AMI listener for {listener.server} as {options['username']}; SIGTERM or Ctrl+C stops it.")
        try:
            listener.run()
        except ManagerAuthException as exc:
            raise CommandError(
                f"Asterisk at {listener.server} refused the AMI login of {options['username']!r} ({exc}). "
                "Check HOTLINE_AMI_USERNAME and HOTLINE_AMI_SECRET against manager.conf (secret, permit/deny)."
            ) from exc
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("AMI listener stopped.")

    def _secret(self, options) -> str:
        if options["secret_file"]:
            try:
                secret = options["secret_file"].read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CommandError(f"Cannot read the AMI secret file: {exc}") from exc
        else:
            secret = options["secret"] if options["secret"] is not None else settings.AMI_SECRET
        if not secret:
            raise CommandError(
                "No AMI secret: set HOTLINE_AMI_SECRET (or HOTLINE_AMI_SECRET_FILE) or pass --secret-file."
            )
        return secret
