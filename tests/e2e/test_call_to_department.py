"""End to end in headless Chromium: a call pops on the operator's console, is dispatched, arrives live in the
department's inbox and is accepted there, while the supervisor's wallboard counts it.

Three people, three browser contexts (each its own session), all signed in through the login page
before the phone rings. Asterisk is the tests' stand-ins: the AGI stand-in plays the call to the
bridge's port, the AMI stand-in tells the listener that the caller queued and that the operator's
phone (PJSIP/8001, huawu1's extension) answered. Every wait is on something the page shows.
Screenshots of each page go to test-artifacts/e2e/ (or $E2E_ARTEFACTS).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.telephony import ami_standin as ami
from tests.telephony.asterisk_standin import AsteriskStandIn, environment

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # the `browser` fixture skips with the reason (and fails instead in CI)
    pass

TIMEOUT = 10_000  # ms: the slowest expected change is a wallboard refresh (at most one a second)
LIVE = "live"  # <html data-live>: live.js has its snapshot and applies events
# What a staff member's browser is in Huizhou: it sends zh-CN, and the page's clock is Shanghai's.
BROWSER_CONTEXT = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "viewport": {"width": 1440, "height": 900}}


@pytest.fixture(autouse=True)
def _patient_expect(browser):
    expect.set_options(timeout=TIMEOUT)


@pytest.fixture
def shots(artefacts):
    """shots(page, name): a full-page PNG in the artefacts directory, numbered in the order taken."""
    taken = []

    def shoot(page: Page, name: str) -> None:
        taken.append(name)
        page.screenshot(path=artefacts / f"{len(taken):02d}-{name}.png", full_page=True)

    return shoot


def sign_in(browser: Browser, url: str, login: dict, path: str, shots=None) -> Page:
    """A new browser of its own (cookies and all): the page asks for the login, then lands on `path`, live."""
    context = browser.new_context(**BROWSER_CONTEXT)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(url + path)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.fill("#id_username", login["username"])
    page.fill("#id_password", login["password"])
    if shots:
        shots(page, "login")
    page.click('form[action="/login/"] button[type=submit]')
    expect(page).to_have_url(url + path)
    expect(page.locator("html")).to_have_attribute("data-live", LIVE)
    # Marks this document: still there at the end means the page changed without a reload.
    page.evaluate("window.e2eNeverReloaded = true")
    return page


def figure(page: Page, name: str) -> int:
    text = page.locator(f'[data-figure="{name}"]').inner_text().strip()
    return 0 if text == "—" else int(text)


def expect_figure(page: Page, name: str, value: int) -> None:
    expect(page.locator(f'[data-figure="{name}"]')).to_have_text(str(value))


def test_the_pages_speak_chinese_to_a_browser_that_asks_for_a_language_the_hotline_lacks(browser, hotline):
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(hotline.url + "/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text("登录")
    context.close()


def test_a_call_pops_up_is_dispatched_and_accepted_live_while_the_wallboard_counts_it(browser, hotline, shots):
    facts, caller = hotline.facts, hotline.facts["citizen"]
    wall = sign_in(browser, hotline.url, facts["supervisor"], "/supervisor/")
    inbox = sign_in(browser, hotline.url, facts["department"], "/department/")
    console = sign_in(browser, hotline.url, facts["operator"], "/operator/", shots)
    expect(console.locator("h1")).to_have_text("话务员工作台")
    expect(inbox.locator("h1")).to_contain_text(facts["department"]["name"])
    expect(console.locator("#screen-pop")).not_to_have_attribute("data-ticket", re.compile(".*"))
    # The AMI listener has read the queue: the operator's phone is logged in and free.
    expect_figure(wall, "logged_in", 1)
    expect_figure(wall, "available", 1)
    before = {name: figure(wall, name) for name in ("calls_today", "answered", "tickets_today")}
    shots(wall, "wallboard-before")
    shots(inbox, "inbox-before")
    shots(console, "console-waiting")

    uniqueid, number = ring_and_answer(hotline, wall, caller["phone"])
    pop_shows_the_draft_and_the_citizen_masked(console, number, caller)
    expect_figure(wall, "on_call", 1)
    expect_figure(wall, "waiting", 0)
    shots(console, "console-pop")

    write_up_and_dispatch(console, number, facts)
    shots(console, "console-dispatched")
    expect_figure(wall, "tickets_today", before["tickets_today"] + 1)
    department_accepts(inbox, number, shots)
    second_matter_is_recorded_on_the_call(console, number)

    # The caller hangs up after the talk.
    hotline.ami.emit("AgentComplete", ami.agent_complete(uniqueid, talk=95), timestamp=time.time())
    hotline.ami.emit("Hangup", ami.hangup(uniqueid), timestamp=time.time())
    expect(console.locator("#call-state")).to_have_attribute("data-state", "ended")
    expect_figure(wall, "on_call", 0)
    expect_figure(wall, "answered", before["answered"] + 1)
    expect_figure(wall, "calls_today", before["calls_today"] + 1)
    expect_figure(wall, "tickets_today", before["tickets_today"] + 1)
    shots(wall, "wallboard-after")
    shots(console, "console-call-ended")

    for page in (wall, inbox, console):
        assert page.evaluate("window.e2eNeverReloaded") is True, page.url
        page.context.close()


def ring_and_answer(hotline, wall: Page, phone: str) -> tuple[str, str]:
    """Asterisk hands the call to the bridge (the caller keys 1, a consultation), queues it, huawu1's phone answers."""
    calls = figure(wall, "calls_today")
    uniqueid = f"{int(time.time())}.{hotline.agi[1]}"
    channel = f"Local/{phone}@hotline-00000001;2"
    env = environment(uniqueid=uniqueid, callerid=phone, calleridname=phone, channel=channel)
    record = AsteriskStandIn(env=env, digits=["1"]).call(hotline.agi)
    number = record.variables["HOTLINE_TICKET"]
    assert number.isdigit() and record.variables["HOTLINE_KIND"] == "consultation"
    expect_figure(wall, "calls_today", calls + 1)
    hotline.ami.emit("QueueCallerJoin", ami.caller_join(uniqueid, caller=phone), timestamp=time.time())
    expect_figure(wall, "waiting", 1)
    hotline.ami.emit("AgentConnect", ami.agent_connect(uniqueid, interface="PJSIP/8001", hold=9), timestamp=time.time())
    return uniqueid, number


def department_accepts(inbox: Page, number: str, shots) -> None:
    """The dispatched ticket's row has come in on its own; Accept turns it to accepted."""
    row = inbox.locator(f'#inbox tr[data-ticket="{number}"]')
    expect(row).to_have_attribute("data-status", "dispatched")
    expect(inbox.locator("#inbox-status")).to_contain_text(number)
    shots(inbox, "inbox-arrived")
    inbox.locator(f'button[data-action="accept"][data-number="{number}"]').click()
    expect(row).to_have_attribute("data-status", "accepted")
    expect(inbox.locator("#inbox-status")).to_have_attribute("data-kind", "ok")
    expect(inbox.locator("#inbox-status")).to_contain_text(number)
    shots(inbox, "inbox-accepted")


def pop_shows_the_draft_and_the_citizen_masked(console: Page, number: str, caller: dict) -> None:
    pop = console.locator("#screen-pop")
    expect(pop).to_have_attribute("data-ticket", number, timeout=5_000)  # "within a few seconds" of the answer
    expect(console.locator("#call-state")).to_have_attribute("data-state", "on-call")
    expect(pop.locator('[data-pop="caller"]')).to_have_text(caller["phone_masked"])
    expect(pop.locator('[data-pop="citizen-name"]')).to_have_text(caller["name"])
    expect(pop.locator('[data-pop="citizen-id"]')).to_have_text(caller["id_masked"])
    expect(pop.locator('[data-pop="citizen-phones"]')).to_contain_text(caller["phone_masked"])
    expect(pop.locator("[data-pop-history] tr").first).to_be_visible()
    expect(console.locator("#ticket-form")).to_have_attribute("data-ticket", number)
    html = console.content()
    for unmasked in (caller["id_number"], caller["phone"], caller["phone_e164"]):
        assert unmasked not in html


def second_matter_is_recorded_on_the_call(console: Page, number: str) -> None:
    """The caller raises another matter: a new ticket from the console is saved as a draft and linked to the call."""
    console.locator("button[name=new]").click()
    console.fill("#f-title", "路灯不亮")
    console.fill("#f-description", "市民另反映小区门口路灯连续三晚不亮。")
    console.locator("button[name=save]").click()
    status = console.locator("#console-status")
    expect(status).to_have_attribute("data-kind", "ok")
    # The link is made just after the save: wait for the call's record to list both tickets.
    pop = "() => fetch('/api/calls/current/pop/').then(r => r.json()).then(p => p.tickets)"
    console.wait_for_function(f"async () => (await ({pop})()).length === 2", timeout=TIMEOUT)
    tickets = console.evaluate(pop)
    assert tickets[0] == number and tickets[1] != number, tickets
    expect(status).to_contain_text(tickets[1])


def write_up_and_dispatch(console: Page, number: str, facts: dict) -> None:
    """Kind, category (typed, then picked from the list), title, description; the rule's suggestion; dispatch."""
    department, category = facts["department"], facts["category"]
    suggestion = console.locator("#routing-suggestion")
    # The draft has loaded into the form (its first explanation came back: no rule for a bare consultation).
    expect(suggestion).to_have_attribute("data-state", "none")
    console.select_option("#f-kind", "complaint")
    console.fill("#f-category", category["name"])
    console.locator("#category-options [role=option]", has_text=category["name"]).first.click()
    expect(console.locator("input[name=category_id]")).to_have_value(str(category["id"]))
    console.fill("#f-title", "小区停水两天无人处理")
    console.fill("#f-description", "市民反映所住小区自前天起停水，物业称已报修但至今未恢复供水，要求尽快处理。")
    expect(suggestion).to_have_attribute("data-state", "matched")
    expect(suggestion).to_have_attribute("data-department", str(department["id"]))
    expect(suggestion.locator(".suggested-department")).to_have_text(department["name"])
    expect(console.locator("#f-department")).to_have_value(str(department["id"]))
    console.locator("button[name=dispatch]").click()
    status = console.locator("#console-status")
    expect(status).to_have_attribute("data-kind", "ok")
    expect(status).to_contain_text(number)
    expect(status).to_contain_text(department["name"])
