"""The admin for IVR menus (options validated as the bridge needs them) and the read-only call log."""

import pytest
from django.contrib.messages import constants as message_levels

from telephony.models import Call, IvrMenu, IvrOption, Outcome
from tests.factories import DepartmentFactory

CALLER = "13812345678"
MENU_URL = "/admin/telephony/ivrmenu/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def main_menu(db):
    return IvrMenu.objects.get(code="main")  # the default menu from the data migration


def change_url(menu: IvrMenu) -> str:
    return f"{MENU_URL}{menu.pk}/change/"


def form_data(response) -> dict:
    """What a browser posts back from an admin add/change page: the form, the inline forms, their management forms."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
        for inline_form in formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is None or value is False:
                    continue
                data[f"{inline_form.prefix}-{name}"] = value.pk if hasattr(value, "pk") else value
    return data


def new_option(data: dict, **fields: object) -> dict:
    """Fill the inline's empty extra form (the one after the existing options)."""
    index = int(data["options-INITIAL_FORMS"])
    return {**data, **{f"options-{index}-{name}": value for name, value in fields.items()}}


def option_errors(response) -> list[dict]:
    return response.context["inline_admin_formsets"][0].formset.errors


def test_the_menu_list_and_the_main_menu_page_load(admin_client, main_menu):
    listing = admin_client.get(MENU_URL)
    assert listing.status_code == 200
    assert "hotline/main-menu" in listing.content.decode()
    page = admin_client.get(change_url(main_menu))
    assert page.status_code == 200
    assert len(page.context["inline_admin_formsets"][0].formset.initial_forms) == 7


def test_prompt_fields_suggest_and_list_the_known_prompt_names(admin_client, main_menu):
    content = admin_client.get(change_url(main_menu)).content.decode()
    assert 'list="id_prompt-prompts"' in content and '<datalist id="id_prompt-prompts">' in content
    assert '<option value="hotline/welcome"></option>' in content
    form = admin_client.get(change_url(main_menu)).context["adminform"].form
    hint = str(form.fields["prompt"].help_text)
    assert "hotline/main-menu" in hint and "hotline/invalid" in hint and "hotline/dept-" in hint


def test_an_unchanged_menu_saves(admin_client, main_menu):
    page = admin_client.get(change_url(main_menu))
    response = admin_client.post(change_url(main_menu), form_data(page))
    assert response.status_code == 302
    assert main_menu.options.count() == 7


def test_a_kind_option_without_its_kind_is_refused(admin_client, main_menu):
    data = new_option(form_data(admin_client.get(change_url(main_menu))), digit="6", action="kind", label="表扬")
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    assert "kind" in option_errors(response)[7]
    assert main_menu.options.count() == 7


def test_a_submenu_option_without_its_menu_is_refused(admin_client, main_menu):
    data = new_option(form_data(admin_client.get(change_url(main_menu))), digit="9", action="submenu", label="更多")
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    assert "submenu" in option_errors(response)[7]
    assert main_menu.options.count() == 7


def test_a_menu_cannot_lead_to_itself(admin_client, main_menu):
    data = new_option(
        form_data(admin_client.get(change_url(main_menu))),
        digit="9",
        action="submenu",
        submenu=main_menu.pk,
        label="再听一遍",
    )
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    assert "submenu" in option_errors(response)[7]
    assert not main_menu.options.filter(digit="9").exists()


def test_a_key_used_twice_in_a_menu_is_refused(admin_client, main_menu):
    data = new_option(form_data(admin_client.get(change_url(main_menu))), digit="1", action="operator", label="人工")
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.non_form_errors() or any(formset.errors)
    assert main_menu.options.filter(digit="1").count() == 1


def test_a_key_that_is_not_a_phone_key_is_refused(admin_client, main_menu):
    data = new_option(form_data(admin_client.get(change_url(main_menu))), digit="a", action="operator", label="x")
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    assert "digit" in option_errors(response)[7]


def test_valid_options_are_saved_for_the_bridge(admin_client, main_menu):
    more = IvrMenu.objects.create(code="more", name="更多", prompt="hotline/main-menu")
    data = new_option(
        form_data(admin_client.get(change_url(main_menu))), digit="9", action="submenu", submenu=more.pk, label="更多"
    )
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 302
    option = main_menu.options.get(digit="9")
    assert option.action == "submenu" and option.submenu == more

    data = new_option(
        form_data(admin_client.get(change_url(more))), digit="6", action="kind", kind="praise", label="表扬"
    )
    assert admin_client.post(change_url(more), data).status_code == 302
    assert IvrOption.objects.get(menu=more, digit="6").kind == "praise"


def test_a_new_menu_can_be_added_with_its_options(admin_client, main_menu):
    data = new_option(
        form_data(admin_client.get(f"{MENU_URL}add/")),
        digit="1",
        action="progress",
        label="查询进度",
    )
    data.update(code="night", name="夜间菜单", prompt="hotline/welcome", invalid_prompt="hotline/invalid")
    data.update(timeout_ms="5000", max_attempts="3")
    response = admin_client.post(f"{MENU_URL}add/", data)
    assert response.status_code == 302
    night = IvrMenu.objects.get(code="night")
    assert [(o.digit, o.action) for o in night.options.all()] == [("1", "progress")]


def test_a_prompt_name_that_is_not_rendered_saves_with_a_warning(admin_client, main_menu):
    data = {**form_data(admin_client.get(change_url(main_menu))), "prompt": "custom/holiday-notice"}
    response = admin_client.post(change_url(main_menu), data, follow=True)
    assert response.status_code == 200
    main_menu.refresh_from_db()
    assert main_menu.prompt == "custom/holiday-notice"
    warnings = [m for m in response.context["messages"] if m.level == message_levels.WARNING]
    assert len(warnings) == 1 and "custom/holiday-notice" in str(warnings[0])


def test_known_prompts_and_department_prompts_save_without_a_warning(admin_client, main_menu):
    DepartmentFactory(code="water", name="市水务局")
    data = {**form_data(admin_client.get(change_url(main_menu))), "prompt": "hotline/dept-water"}
    response = admin_client.post(change_url(main_menu), data, follow=True)
    assert not [m for m in response.context["messages"] if m.level == message_levels.WARNING]


def test_a_prompt_name_that_is_no_sound_file_name_is_refused(admin_client, main_menu):
    data = {**form_data(admin_client.get(change_url(main_menu))), "prompt": "Hotline/Main Menu.wav"}
    response = admin_client.post(change_url(main_menu), data)
    assert response.status_code == 200
    assert "prompt" in response.context["adminform"].form.errors
    main_menu.refresh_from_db()
    assert main_menu.prompt == "hotline/main-menu"


def test_the_main_menu_cannot_be_renamed_or_deleted(admin_client, main_menu):
    form = admin_client.get(change_url(main_menu)).context["adminform"].form
    assert "code" not in form.fields
    assert admin_client.get(f"{MENU_URL}{main_menu.pk}/delete/").status_code == 403
    other = IvrMenu.objects.create(code="other", name="其他", prompt="hotline/main-menu")
    assert admin_client.get(f"{MENU_URL}{other.pk}/delete/").status_code == 200


# ---- the call log ----------------------------------------------------------------------------------


@pytest.fixture
def answered_call(db):
    return Call.objects.create(
        uniqueid="1732780800.17",
        linkedid="1732780800.16",
        caller_number="+86" + CALLER,
        dialled_number="12345",
        channel="PJSIP/carrier-0000002a",
        language="zh",
        ivr_path="main>complaint",
        ivr_digits="2",
        queue="hotline-operators",
        agent="PJSIP/8001",
        hangup_cause="16",
        wait_seconds=42,
        talk_seconds=187,
        outcome=Outcome.ANSWERED,
        recording="hotline/20241128/1732780800.17.wav",
    )


def test_the_call_page_shows_the_ivr_and_queue_fields_with_the_caller_masked(admin_client, answered_call):
    response = admin_client.get(f"/admin/telephony/call/{answered_call.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    for value in (
        "1732780800.16",
        "main&gt;complaint",
        "hotline-operators",
        "PJSIP/8001",
        "187",
        "42",
        "hotline/20241128/1732780800.17.wav",
    ):
        assert value in content, value
    assert CALLER not in content and "138****5678" in content
    fields = [field for fieldset in response.context["adminform"] for line in fieldset for field in line]
    names = {field.field["name"] if isinstance(field.field, dict) else field.field.name for field in fields}
    for name in (
        "linkedid",
        "language",
        "ivr_path",
        "ivr_digits",
        "queue",
        "agent",
        "ivr_ended_at",
        "queue_joined_at",
        "hangup_cause",
        "wait_seconds",
        "talk_seconds",
        "outcome",
        "recording",
    ):
        assert name in names, name


def test_calls_can_be_filtered_by_outcome(admin_client, answered_call):
    Call.objects.create(uniqueid="1732780900.20", caller_number="anonymous", outcome=Outcome.ABANDONED_QUEUE)
    answered = admin_client.get("/admin/telephony/call/", {"outcome": Outcome.ANSWERED}).content.decode()
    assert "1732780800.17" in answered and "1732780900.20" not in answered
    abandoned = admin_client.get("/admin/telephony/call/", {"outcome": Outcome.ABANDONED_QUEUE}).content.decode()
    assert "1732780900.20" in abandoned and "1732780800.17" not in abandoned
    assert CALLER not in answered


def test_the_call_log_stays_read_only(admin_client, answered_call):
    url = f"/admin/telephony/call/{answered_call.pk}/change/"
    page = admin_client.get(url)
    assert page.context["has_change_permission"] is False
    assert admin_client.post(url, {"queue": "other"}).status_code == 403
    assert admin_client.get("/admin/telephony/call/add/").status_code == 403
    answered_call.refresh_from_db()
    assert answered_call.queue == "hotline-operators"
