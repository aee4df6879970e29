"""The three rooms and the citizens' form on a phone's screen, and every control with a name a screen reader says.

Department staff answer from their phones on the street, and supervisors glance at the wallboard on
theirs: at 375 px wide no page may need sideways scrolling of the whole page (a wide table may
scroll inside its own box), and every visible form control must have an accessible name (a label,
aria-label or aria-labelledby), which is also what keyboard users hear and voice control targets.
Runs on the end-to-end platform of this package's conftest; screenshots go beside the others.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_call_to_department import TIMEOUT

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips with the reason (and fails instead in CI)
    pass

PHONE = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "viewport": {"width": 375, "height": 740}}
PAGES = [  # (who signs in, path, what the page shows once it is there)
    ("department", "/department/", "#inbox"),
    ("supervisor", "/supervisor/", '[data-figure="calls_today"]'),
    ("operator", "/operator/", "#ticket-form"),
    (None, "/public/", "form"),
]

# Controls a person can reach that nothing names: no <label for>, no wrapping <label>, no aria-label(ledby).
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(el => el.type !== 'hidden' && el.offsetParent !== null && !el.closest('[hidden], [aria-hidden=true]'))
    .filter(el => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
                    || el.getAttribute('aria-labelledby') || el.getAttribute('title')
                    || (el.tagName === 'BUTTON' && el.textContent.trim())
                    || (el.type === 'submit' && el.value)))
    .map(el => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize(("who", "path", "ready"), PAGES, ids=[path.strip("/") for _, path, _ in PAGES])
def test_on_a_phone_the_page_fits_the_screen_and_every_control_is_named(browser, hotline, artefacts, who, path, ready):
    context = browser.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(hotline.url + path)
    if who is not None:
        login = hotline.facts[who]
        page.fill("#id_username", login["username"])
        page.fill("#id_password", login["password"])
        page.click('form[action="/login/"] button[type=submit]')
        expect(page).to_have_url(hotline.url + path)
        expect(page.locator("html")).to_have_attribute("data-live", "live")
    expect(page.locator(ready).first).to_be_visible()
    page.screenshot(path=artefacts / f"phone-{path.strip('/')}.png", full_page=True)

    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{path} is {overflow}px wider than a 375px phone screen"
    assert page.evaluate(UNNAMED_CONTROLS) == [], f"{path} has controls without an accessible name"
    assert re.match(r"zh", page.locator("html").get_attribute("lang"))
    context.close()
