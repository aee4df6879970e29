"""The database itself refuses changes to the timeline.

PostgreSQL refuses UPDATE and DELETE (a flush uses TRUNCATE, which row triggers do not see).
SQLite refuses UPDATE only: its flush is a plain DELETE, which the test suite and
`manage.py flush` need; the ORM and the PROTECT foreign key still refuse deletes there.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION tickets_timeline_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ticket timeline is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tickets_timeline_append_only
    BEFORE UPDATE OR DELETE ON tickets_timelineentry
    FOR EACH ROW EXECUTE FUNCTION tickets_timeline_append_only();
"""
SQLITE_CREATE = [
    """CREATE TRIGGER tickets_timeline_no_update BEFORE UPDATE ON tickets_timelineentry
       BEGIN SELECT RAISE(ABORT, 'the ticket timeline is append-only (UPDATE refused)'); END;""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS tickets_timeline_no_update;"]
DROP = """
DROP TRIGGER IF EXISTS tickets_timeline_append_only ON tickets_timelineentry;
DROP FUNCTION IF EXISTS tickets_timeline_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
