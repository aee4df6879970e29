"""Web intake (docs/intake.md): what a citizen's web form leaves beside its ticket."""

import django.db.models.deletion
import tickets.clock
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0005_duplicate_search'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebIntake',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('contact_name', models.CharField(blank=True, max_length=100, verbose_name='name given')),
                ('query_code_hash', models.CharField(editable=False, max_length=128, verbose_name='query code (hash)')),
                ('photo', models.FileField(blank=True, editable=False, max_length=255, upload_to='', verbose_name='photo')),
                ('photo_type', models.CharField(blank=True, editable=False, max_length=32, verbose_name='photo type')),
                ('created_at', models.DateTimeField(default=tickets.clock.now, editable=False, verbose_name='submitted')),
                ('ticket', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='web_intake', to='tickets.ticket', verbose_name='ticket')),
            ],
            options={
                'verbose_name': 'web submission',
                'verbose_name_plural': 'web submissions',
            },
        ),
    ]
