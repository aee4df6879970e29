"""On PostgreSQL, GIN trigram indexes (pg_trgm, created in 0003) over the tickets' description and
address, for the duplicate suggestions' similarity search. SQLite needs nothing: there the search
compares character n-grams in Python over the few candidates the other conditions leave.
"""

from django.db import migrations

INDEXES = {
    "tickets_ticket_description_trgm": "description",
    "tickets_ticket_address_trgm": "address",
}


def trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, column in INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON tickets_ticket USING gin ({column} gin_trgm_ops)", params=None
            )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_reassign_escalate_actions"),
    ]

    operations = [
        migrations.RunPython(trigram_indexes, drop_trigram_indexes),
    ]
