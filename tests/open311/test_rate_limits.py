"""Rate limits per API key (or per address without one), counted in Django's cache: 429 with Retry-After."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tickets.open311.actions import api_key_issue
from tickets.open311.models import ApiKey, RequestLog, ServiceRequest

from .helpers import BASE, errors_of, light_request, post_form

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = datetime.datetime(2026, 11, 24, 10, 0, 15, tzinfo=SHANGHAI)  # 45 s left in this minute's window


def statuses(client, times: int, **params) -> list[int]:
    return [client.get(f"{BASE}/services.json", params).status_code for _ in range(times)]


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_a_key_over_its_limit_gets_429_with_retry_after(client, services, key, suffix):
    key.requests_per_minute = 3
    key.save()

    with time_machine.travel(MINUTE, tick=False):
        assert statuses(client, 3, api_key=key.secret) == [200, 200, 200]
        response = client.get(f"{BASE}/services.{suffix}", {"api_key": key.secret})

    assert response.status_code == 429
    assert response["Retry-After"] == "45"
    assert errors_of(response) == [
        {"code": 429, "description": "Too many requests: this api_key may make 3 a minute. Try again in 45 s."}
    ]
    refused = RequestLog.objects.filter(status=429).get()
    assert refused.api_key == key


def test_the_count_starts_again_in_the_next_minute(client, services, key):
    key.requests_per_minute = 1
    key.save()

    with time_machine.travel(MINUTE, tick=False):
        assert statuses(client, 2, api_key=key.secret) == [200, 429]
    with time_machine.travel(MINUTE + datetime.timedelta(seconds=45), tick=False):
        assert statuses(client, 2, api_key=key.secret) == [200, 429]


def test_a_key_without_its_own_limit_has_the_default(client, services, key, settings):
    settings.OPEN311_RATE_LIMIT = 2

    with time_machine.travel(MINUTE, tick=False):
        assert statuses(client, 3, api_key=key.secret) == [200, 200, 429]


def test_each_key_counts_separately(client, services, key, settings):
    settings.OPEN311_RATE_LIMIT = 1
    other = ApiKey(name="另一个应用")
    other_secret = api_key_issue(other, actor=None)

    with time_machine.travel(MINUTE, tick=False):
        assert statuses(client, 2, api_key=key.secret) == [200, 429]
        assert statuses(client, 1, api_key=other_secret) == [200]


def test_posts_count_too_and_a_refused_post_writes_nothing(client, services, key):
    key.requests_per_minute = 1
    key.save()

    with time_machine.travel(MINUTE, tick=False):
        first = post_form(client, f"{BASE}/requests.json", light_request(key))
        second = post_form(client, f"{BASE}/requests.xml", light_request(key))

    assert (first.status_code, second.status_code) == (201, 429)
    assert errors_of(second)[0]["code"] == 429
    assert ServiceRequest.objects.count() == 1


def test_without_a_key_each_address_has_the_anonymous_limit(client, services, settings):
    settings.OPEN311_ANON_RATE_LIMIT = 2

    with time_machine.travel(MINUTE, tick=False):
        assert statuses(client, 2) == [200, 200]
        refused = client.get(f"{BASE}/services.json")
        other = client.get(f"{BASE}/services.json", REMOTE_ADDR="10.0.0.9")

    assert refused.status_code == 429
    assert "without an api_key: 2 a minute" in errors_of(refused)[0]["description"]
    assert other.status_code == 200


def test_behind_a_proxy_the_address_it_appended_is_counted(client, services, settings):
    settings.OPEN311_ANON_RATE_LIMIT = 1
    settings.HOTLINE_PROXY_COUNT = 1

    def get(forwarded: str) -> int:
        return client.get(f"{BASE}/services.json", HTTP_X_FORWARDED_FOR=forwarded).status_code

    with time_machine.travel(MINUTE, tick=False):
        # The client may write anything on the left; only the proxy's own entry (the last) counts.
        assert [get("1.1.1.1, 203.0.113.5"), get("2.2.2.2, 203.0.113.5"), get("203.0.113.6")] == [200, 429, 200]
    assert RequestLog.objects.order_by("id").first().client_ip == "203.0.113.5"


def test_guessing_keys_counts_against_the_address(client, services, settings):
    settings.OPEN311_ANON_RATE_LIMIT = 2

    with time_machine.travel(MINUTE, tick=False):
        answers = [client.get(f"{BASE}/services.json", {"api_key": f"o311_guess{n}"}).status_code for n in range(3)]

    assert answers == [403, 403, 429]


def test_a_limit_of_zero_turns_the_limit_off(client, services, settings):
    settings.OPEN311_ANON_RATE_LIMIT = 0

    with time_machine.travel(MINUTE, tick=False):
        assert set(statuses(client, 5)) == {200}


def test_a_cache_outage_lets_requests_through_and_says_so(client, services, key, monkeypatch, caplog):
    class Down:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

        incr = set = add

    monkeypatch.setattr("tickets.ratelimits.cache", Down())
    key.requests_per_minute = 1
    key.save()

    assert statuses(client, 3, api_key=key.secret) == [200, 200, 200]
    assert "not checked: the cache is unavailable" in caplog.text


def test_the_counters_live_in_redis_when_redis_url_is_set(settings):
    # One cache for every process in production; the embedded mode's one process has its own memory.
    expected = "redis.RedisCache" if settings.REDIS_URL else "locmem.LocMemCache"
    assert settings.CACHES["default"]["BACKEND"] == f"django.core.cache.backends.{expected}"
