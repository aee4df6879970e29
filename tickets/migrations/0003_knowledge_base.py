"""The knowledge base (知识库): articles, the article a first-contact answer used, and on PostgreSQL
the pg_trgm extension with a GIN trigram index over the articles' searchable text.

pg_trgm is a trusted extension (PostgreSQL 13+): the owner of the database may create it without
being a superuser. On SQLite the search falls back to LIKE, which needs nothing here.
"""

import django.db.models.deletion
import django.db.models.functions.text
import tickets.clock
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

INDEX = "tickets_article_search_trgm"


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON tickets_article USING gin (search_text gin_trgm_ops)", params=None
        )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0002_timeline_append_only'),
    ]

    operations = [
        TrigramExtension(),
        migrations.CreateModel(
            name='Article',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=200, verbose_name='title')),
                ('question', models.TextField(help_text='The question as citizens ask it.', verbose_name='question')),
                ('answer', models.TextField(help_text='What the operator tells the citizen.', verbose_name='answer')),
                ('keywords', models.CharField(blank=True, help_text='Other words callers use, separated by spaces.', max_length=255, verbose_name='keywords')),
                ('is_published', models.BooleanField(default=False, help_text='Only published articles are shown to operators and departments.', verbose_name='published')),
                ('search_text', models.GeneratedField(db_persist=True, expression=django.db.models.functions.text.Lower(django.db.models.functions.text.Concat('title', models.Value(' '), 'question', models.Value(' '), 'answer', models.Value(' '), 'keywords', output_field=models.TextField())), output_field=models.TextField())),
                ('view_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='views')),
                ('use_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='times used')),
                ('created_at', models.DateTimeField(default=tickets.clock.now, editable=False, verbose_name='created')),
                ('updated_at', models.DateTimeField(default=tickets.clock.now, editable=False, verbose_name='updated')),
                ('category', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='articles', to='tickets.category', verbose_name='category')),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='updated by')),
            ],
            options={
                'verbose_name': 'knowledge article',
                'verbose_name_plural': 'knowledge articles',
                'ordering': ['-updated_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='ticket',
            name='article',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tickets', to='tickets.article', verbose_name='knowledge article used'),
        ),
        migrations.RunPython(trigram_index, drop_trigram_index),
    ]
