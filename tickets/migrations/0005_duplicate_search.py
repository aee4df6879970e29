"""On PostgreSQL, what the duplicate suggestions (tickets/duplicates.py) search: open tickets' words.

`tickets_search_words(text)` is the text pg_trgm should compare: lower case, full-width digits and
letters made plain, "号楼"/"幢"/"座" as "栋", "小区" left out, the formulae every ticket repeats
("市民反映…", "要求尽快处理") taken out, and everything that is not a letter, a digit or a Chinese
character made a space (a clause boundary). The description's is kept in a generated column,
`search_words` (PostgreSQL computes it when a ticket is written; the model does not know it, so
nothing else reads or writes it): a search then compares stored text instead of running the
function on every ticket it reads, three times faster. The address's is short and cheap, so an
expression serves it. Two GIN indexes, partial on the open statuses (the only tickets a text or an
address can suggest; a year of finished ones would make every search read ten times as much), each
led by the district (btree_gin), so that a search reads only the district's tickets.

Adding the column rewrites the table once (a minute per million tickets); a later change of the
`description` column's type has to drop the column first.

pg_trgm counts a Chinese character as part of a word only where the database's LC_CTYPE calls it a
letter (C.UTF-8, zh_CN.UTF-8: yes; C: no, and then every similarity is 0); the suggestions check
that at run time and fall back to scoring in Python. The planner matches the indexes by the
function's inlined body: changing the function means dropping and creating the indexes again.
SQLite needs nothing: there the suggestions score the district's latest open tickets in Python.
"""

from django.db import migrations

OPEN = ("registered", "dispatched", "accepted", "extension_requested", "returned", "replied", "reopened")
FORMULAE = (
    "市民来电反映|市民来电表示|市民来电称|市民再次来电|市民来电|市民反映|市民投诉|市民举报|市民咨询|市民建议|"
    "市民表示|来电人称|来电人反映|市民称|要求|请求|希望|尽快|处理|相关部门|有关部门"
)
FULL_WIDTH = "".join(chr(c) for c in range(0xFF10, 0xFF1A)) + "".join(chr(c) for c in range(0xFF21, 0xFF3B))
FUNCTION = rf"""
CREATE OR REPLACE FUNCTION tickets_search_words(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT regexp_replace(
           regexp_replace(
             replace(replace(replace(replace(
               lower(translate(value, '{FULL_WIDTH}', '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ')),
               '号楼', '栋'), '幢', '栋'), '座', '栋'), '小区', ''),
             '{FORMULAE}', ' ', 'g'),
           '[^0-9a-z\u3400-\u9fff]+', ' ', 'g')
$$
"""
COLUMN = "search_words"
INDEXES = {
    "tickets_ticket_open_description_words": COLUMN,
    "tickets_ticket_open_address_words": "tickets_search_words(address)",
}


def search_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin", params=None)
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"ALTER TABLE tickets_ticket ADD COLUMN IF NOT EXISTS {COLUMN} text "
        "GENERATED ALWAYS AS (tickets_search_words(description)) STORED",
        params=None,
    )
    indexes_create(schema_editor)


def indexes_create(schema_editor):
    statuses = ", ".join(f"'{status}'" for status in OPEN)
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON tickets_ticket "
            f"USING gin (district_id, {expression} gin_trgm_ops) WHERE status IN ({statuses})",
            params=None,
        )


def search_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)
    schema_editor.execute(f"ALTER TABLE tickets_ticket DROP COLUMN IF EXISTS {COLUMN}", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS tickets_search_words(text)", params=None)
    # btree_gin stays: another index may have come to use it.


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_reassign_escalate_actions"),
    ]

    operations = [
        migrations.RunPython(search_create, search_drop),
    ]
