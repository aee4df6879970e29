"""An index for the overdue sweep (督办): the open tickets' status and deadline, with the id, on PostgreSQL.

routing.clocks scans `status = s AND deadline < now` newest first, anti-joined with the
escalations already made, every minute. Most tickets past due were escalated by an earlier
sweep, so the scan's work is one index entry and one probe each; with the tickets model's
(status, deadline) index PostgreSQL must also read every such ticket's row from the table
(for its id), which on a million open tickets is most of the sweep's time. This index carries
the id (INCLUDE), so the scan is index-only, and it holds only the statuses in which a
department holds the ticket (tickets.models.WITH_DEPARTMENT), so closed history never grows
it. Built CONCURRENTLY: an existing table keeps taking writes meanwhile.

SQLite needs nothing: every SQLite index already carries the row id, and the (status,
deadline) index of the tickets model serves the same index-only scan.
"""

from django.db import migrations

NAME = "routing_open_ticket_status_deadline"
# The statuses of tickets.models.WITH_DEPARTMENT when this migration was written.
OPEN = ("accepted", "dispatched", "extension_requested", "reopened")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    statuses = ", ".join(f"'{status}'" for status in OPEN)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON tickets_ticket (status, deadline) INCLUDE (id) "
        f"WHERE status IN ({statuses}) AND deadline IS NOT NULL"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("routing", "0006_ticket_caller_index"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
