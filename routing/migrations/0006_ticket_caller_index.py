"""An index for the repeat-caller condition of the routing rules: a caller's tickets of the last N days.

routing.rules.matching counts them at every registration that a repeat-caller rule could
match: `(citizen_id = … OR caller_number = …) AND created_at BETWEEN …`. The citizen has its
foreign key's index; without this one the caller's number has none, and PostgreSQL reads
every ticket of the window (or the whole table) for each registration. The index lives on the
tickets table but belongs to routing's query, so routing's migration creates it (not in the
Ticket model's Meta: no model state changes). On PostgreSQL it is built CONCURRENTLY, so an
existing table keeps taking writes meanwhile.
"""

from django.db import migrations

NAME = "routing_ticket_caller_created"


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {NAME} ON tickets_ticket (caller_number, created_at)")


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("routing", "0005_seed_return_reasons"),
        ("tickets", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
