"""Load the demo city (Huizhou): departments, districts, categories, users, citizens and tickets."""

import time

from django.core.management.base import BaseCommand

from tickets import demo


class Command(BaseCommand):
    help = (
        "Load a realistic demo city (Huizhou): departments, districts, a category tree, demo users for "
        "every role, citizens and a month of tickets. Running it again adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tickets", type=int, default=demo.TICKET_COUNT, help="number of demo tickets")
        parser.add_argument("--citizens", type=int, default=demo.CITIZEN_COUNT, help="number of demo citizens")
        parser.add_argument("--seed", type=int, default=demo.SEED, help="random seed (same seed, same city)")

    def handle(self, *args, tickets: int, citizens: int, seed: int, verbosity: int, **options) -> None:
        started = time.monotonic()
        progress = self.stdout.write if verbosity >= 1 else None
        summary = demo.load_demo(seed=seed, tickets=tickets, citizens=citizens, progress=progress)
        if verbosity < 1:
            return
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo city loaded in {elapsed:.1f} s."))
        for name, total in summary.totals.items():
            created = summary.created.get(name)
            self.stdout.write(f"  {name:<17} {total:>6}" + (f"  ({created} new)" if created is not None else ""))
        self.stdout.write("Demo logins (new users only; existing passwords are left as they were):")
        for login in demo.DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<18} {login.password:<10} {login.role:<11} {login.department}")
