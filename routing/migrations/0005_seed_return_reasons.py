"""The default return reasons (退单理由) and the ruleset version row; both edited later in the admin or by saves."""

from django.db import migrations

# code, name, English name, needs a note, names the responsible department
REASONS = [
    ("not_ours", "非本单位职责", "Not our responsibility", False, True),
    ("insufficient_info", "诉求信息不全", "Insufficient information", True, False),
    ("duplicate", "重复工单", "Duplicate ticket", True, False),
    ("outside_powers", "超出法定职权", "Outside our legal powers", True, False),
    ("other", "其他", "Other", True, False),
]


def seed(apps, schema_editor):
    ReturnReason = apps.get_model("routing", "ReturnReason")
    for sort, (code, name, name_en, needs_note, names_department) in enumerate(REASONS, start=1):
        ReturnReason.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "name_en": name_en,
                "needs_note": needs_note,
                "names_department": names_department,
                "sort": sort * 10,
            },
        )
    apps.get_model("routing", "RulesetVersion").objects.get_or_create(pk=1, defaults={"token": "initial"})


class Migration(migrations.Migration):
    dependencies = [("routing", "0004_rules")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
