"""The default main menu: choose the kind of request, query progress, or an operator."""

from django.db import migrations

OPTIONS = [
    ("1", "kind", "consultation", "咨询 Consultation"),
    ("2", "kind", "complaint", "投诉 Complaint"),
    ("3", "kind", "suggestion", "建议 Suggestion"),
    ("4", "kind", "help", "求助 Help request"),
    ("5", "kind", "report", "举报 Report"),
    ("8", "progress", "", "查询进度 Progress query"),
    ("0", "operator", "", "人工服务 Operator"),
]


def forwards(apps, schema_editor):
    IvrMenu = apps.get_model("telephony", "IvrMenu")
    IvrOption = apps.get_model("telephony", "IvrOption")
    menu, created = IvrMenu.objects.get_or_create(
        code="main",
        defaults={"name": "主菜单 Main menu", "prompt": "hotline/main-menu", "invalid_prompt": "hotline/invalid"},
    )
    if created:
        IvrOption.objects.bulk_create(
            IvrOption(menu=menu, digit=digit, action=action, kind=kind, label=label)
            for digit, action, kind, label in OPTIONS
        )


class Migration(migrations.Migration):
    dependencies = [("telephony", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
