"""The citizens' pages in a real browser on a phone's width (375 px): labels, keyboard, contrast, no sideways scroll.

Headless Debian Chromium driven by Playwright against pytest-django's live server. Skipped where
Chromium or Playwright is missing, except in CI (CI=true), where a missing browser is a failure.
Screenshots go to test-artifacts/intake/ (ignored by git) for a person to look at.
"""

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from tickets.models import Ticket

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PHONE_SCREEN = {"width": 375, "height": 812}

# WCAG 2.1 contrast of the text of every element matched against its nearest opaque background.
CONTRAST_JS = """
(selector) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].filter((el) => el.offsetParent !== null).map((el) => {
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    return {text: el.textContent.trim().slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
  });
}
"""


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    chromium = next((c for c in (CHROMIUM, shutil.which("chromium")) if c and os.access(c, os.X_OK)), None)
    if chromium is None:
        _missing("the browser test needs Chromium: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the browser test needs Playwright (pip)")
    # Playwright's sync API keeps an event loop in this thread, so Django takes the test's own ORM calls
    # (and pytest-django's database set-up and flush) for async code: they are plain sync code here.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def artefacts() -> Path:
    path = ROOT / "test-artifacts" / "intake"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def phone(browser, live_server, category_tree, district):
    """A page in a phone-sized browser, speaking English; the live server shares the test database."""
    context = browser.new_context(viewport=PHONE_SCREEN, locale="en-GB", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.base = live_server.url
    yield page
    context.close()


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_SCREEN["width"], f"the page is {width} px wide"


def off_the_loop(function, *args):
    """Run ORM writes in a thread of their own: their on-commit event relay must not meet Playwright's loop."""

    def run():
        try:
            return function(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def answer(page) -> str:
    label = page.locator("label[for=id_answer]").inner_text()
    a, b = map(int, re.findall(r"\d+", label)[:2])
    return str(a + b)


@pytest.mark.django_db(transaction=True)
def test_a_citizen_sends_a_request_and_checks_it_on_a_phone(phone, artefacts):
    page = phone
    page.goto(page.base + "/public/")
    no_sideways_scroll(page)

    # Every control is reachable by its label, and the radio choices by keyboard.
    page.get_by_label("Complaint").focus()
    page.keyboard.press("ArrowDown")  # moves the choice to the next kind, as radios do
    assert page.get_by_label("Suggestion").is_checked()
    page.get_by_label("Complaint").check()
    page.get_by_label("Category").select_option(label="停水")
    page.get_by_label("Your request").fill("小区停水三天了，没有任何通知")
    page.get_by_label("District").select_option(label="Huicheng District")
    page.get_by_label("Address").fill("惠城区江北街道1号")
    page.get_by_label("Your phone number (optional)").fill("13800138000")
    page.locator("#id_answer").fill(answer(page))
    page.screenshot(path=artefacts / "form-375.png", full_page=True)
    page.locator("#id_photo").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_answer"  # the honeypot between is never tabbed to
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")

    page.wait_for_selector("#query-code")
    no_sideways_scroll(page)
    page.screenshot(path=artefacts / "submitted-375.png", full_page=True)
    number = page.locator("#ticket-number").inner_text().strip()
    code = page.locator("#query-code").inner_text().strip()
    assert Ticket.objects.get(number=number).channel == "web"

    page.get_by_role("link", name="Check progress").first.click()
    page.get_by_label("Ticket number").fill(number)
    page.get_by_label("Query code, or the last 4 digits of your phone number").fill(code)
    page.get_by_role("button", name="Check progress").click()
    page.wait_for_selector("#progress-status")
    assert "Received" in page.locator("#progress-status").inner_text()
    no_sideways_scroll(page)
    page.screenshot(path=artefacts / "progress-375.png", full_page=True)


@pytest.mark.django_db(transaction=True)
def test_errors_are_summarised_linked_to_their_fields_and_readable(phone, artefacts):
    page = phone
    page.goto(page.base + "/public/")
    page.get_by_label("Your phone number (optional)").fill("12345")
    page.get_by_role("button", name="Send the request").click()

    summary = page.get_by_role("alert")
    summary.wait_for()
    assert "is not a phone number we can call" in summary.inner_text()
    no_sideways_scroll(page)
    page.screenshot(path=artefacts / "errors-375.png", full_page=True)
    phone_input = page.get_by_label("Your phone number (optional)")
    assert phone_input.get_attribute("aria-invalid") == "true"
    assert "id_phone_error" in phone_input.get_attribute("aria-describedby")
    summary.get_by_role("link", name=re.compile("phone number")).click()
    assert page.evaluate("location.hash") == "#id_phone"
    assert Ticket.objects.count() == 0

    for item in page.evaluate(CONTRAST_JS, "label, legend, .helptext, .errorlist li, .error-summary a, button, h1, p"):
        assert item["ratio"] >= 4.5, item


@pytest.mark.django_db(transaction=True)
def test_a_citizen_rates_the_reply_from_the_progress_page(phone, artefacts, web_ticket):
    ticket, code = off_the_loop(web_ticket, "replied")
    page = phone
    page.goto(page.base + "/public/progress/")
    page.get_by_label("Ticket number").fill(ticket.number)
    page.get_by_label("Query code, or the last 4 digits of your phone number").fill(code)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Rate the result").click()

    page.get_by_label("Unsatisfied: the department should handle it again").check()
    page.get_by_role("button", name="Send my rating").click()
    page.get_by_role("alert").wait_for()
    no_sideways_scroll(page)
    page.screenshot(path=artefacts / "rate-error-375.png", full_page=True)
    page.get_by_label("Comment").fill("水还是停着")
    page.get_by_role("button", name="Send my rating").click()

    page.get_by_text("goes back to the department").wait_for()
    page.screenshot(path=artefacts / "rated-375.png", full_page=True)
    assert Ticket.objects.get(pk=ticket.pk).status == "reopened"
