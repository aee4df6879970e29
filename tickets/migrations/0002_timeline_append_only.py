"""On PostgreSQL the database itself refuses UPDATE and DELETE on the timeline."""

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
DROP = """
DROP TRIGGER IF EXISTS tickets_timeline_append_only ON tickets_timelineentry;
DROP FUNCTION IF EXISTS tickets_timeline_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
