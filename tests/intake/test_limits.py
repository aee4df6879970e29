"""Rate limits of the request form (per address and per phone) and the client address behind proxies."""

import time

import pytest
import time_machine
from django.test import RequestFactory

from tests.intake.conftest import jpeg, stored_files, upload, web_tickets
from tickets.intake.limits import Limit, client_ip

pytestmark = pytest.mark.django_db

TOO_MANY = "Too many requests have been sent recently."


def test_one_address_may_send_so_many_requests_an_hour(client, form_data, settings):
    settings.INTAKE_SUBMITS_PER_IP_HOUR = 2
    for phone in ("13800138001", "13800138002"):
        assert client.post("/public/", form_data(client, phone=phone), REMOTE_ADDR="203.0.113.1").status_code == 200

    refused = client.post(
        "/public/", form_data(client, phone="13800138003", photo=upload(jpeg())), REMOTE_ADDR="203.0.113.1"
    )

    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()
    assert web_tickets().count() == 2 and stored_files() == []
    other = client.post("/public/", form_data(client, phone="13800138004"), REMOTE_ADDR="203.0.113.2")
    assert other.status_code == 200
    with time_machine.travel(time.time() + 3600, tick=False):
        assert (
            client.post("/public/", form_data(client, phone="13800138005"), REMOTE_ADDR="203.0.113.1").status_code
            == 200
        )


def test_one_phone_may_be_given_for_so_many_requests_a_day(client, form_data, settings):
    settings.INTAKE_SUBMITS_PER_PHONE_DAY = 2
    for n in range(2):
        assert client.post("/public/", form_data(client), REMOTE_ADDR=f"198.51.100.{n}").status_code == 200

    refused = client.post("/public/", form_data(client, phone="138-0013-8000"), REMOTE_ADDR="198.51.100.9")

    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()
    assert web_tickets().count() == 2
    # The message is the same as for an address: it does not tell a stranger that this phone was used.
    assert "phone" not in refused.content.decode().split(TOO_MANY)[1].split("</li>")[0]
    assert client.post("/public/", form_data(client, phone=""), REMOTE_ADDR="198.51.100.9").status_code == 200


def test_refused_forms_do_not_use_up_the_limit(client, form_data, settings):
    settings.INTAKE_SUBMITS_PER_IP_HOUR = 1
    for _ in range(3):
        assert client.post("/public/", form_data(client, phone="12345")).status_code == 400

    assert client.post("/public/", form_data(client)).status_code == 200


def test_a_limit_counts_hits_in_fixed_windows():
    limit = Limit("test", 2, 60)
    with time_machine.travel(1_800_000_000, tick=False):
        assert [limit.hit("x"), limit.hit("x"), limit.hit("x")] == [False, False, True]
        assert limit.exceeded("x") and not limit.exceeded("y")
        assert limit.retry_at().timestamp() == 1_800_000_000 - 1_800_000_000 % 60 + 60
    with time_machine.travel(1_800_000_000 + 60, tick=False):
        assert not limit.exceeded("x") and limit.hit("x") is False


def test_the_cache_keys_hold_no_personal_data():
    key = Limit("submit-phone", 5, 86400)._key("+8613800138000", 0.0)

    assert "13800138000" not in key


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.5"),  # no proxy configured: the header is the client's own invention
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),  # the client prepended a fake address: ignored
        (2, "6.6.6.6, 1.1.1.1, 172.16.0.2", "1.1.1.1"),
        (2, "", "10.0.0.5"),
    ],
)
def test_the_client_address_is_taken_from_our_own_proxies_only(settings, proxies, forwarded, expected):
    settings.HOTLINE_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_a_cache_outage_lets_the_citizen_through_and_says_so(monkeypatch, caplog):
    class Down:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

        get = incr = add

    monkeypatch.setattr("tickets.ratelimits.cache", Down())
    limit = Limit("submit-ip", 1, 3600)

    assert [limit.hit("10.0.0.5"), limit.hit("10.0.0.5")] == [False, False]
    assert limit.exceeded("10.0.0.5") is False
    assert "rate limit submit-ip not checked: the cache is unavailable" in caplog.text
