"""Rate limits of the public pages, counted in the Django cache (Redis in production) in fixed windows.

Keys carry a keyed hash of what they count (an address, a phone number, a ticket number), never the
value itself, so the cache holds no personal data in clear.
"""

import datetime
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per window of `seconds` for one subject; `name` keeps the counters apart."""

    name: str
    count: int
    seconds: int

    def _window(self, now: float) -> int:
        return int(now // self.seconds)

    def _key(self, subject: str, now: float) -> str:
        digest = salted_hmac("tickets.intake.limits", f"{self.name}:{subject}").hexdigest()[:32]
        return f"intake:limit:{self.name}:{self._window(now)}:{digest}"

    def retry_at(self, now: float | None = None) -> datetime.datetime:
        """When the current window ends and the subject may try again."""
        now = time.time() if now is None else now
        return datetime.datetime.fromtimestamp((self._window(now) + 1) * self.seconds, tz=datetime.UTC)

    def exceeded(self, subject: str) -> bool:
        """True when the subject has used up this window (reading does not count as a hit)."""
        return (cache.get(self._key(subject, time.time())) or 0) >= self.count

    def hit(self, subject: str) -> bool:
        """Count one hit; True when it is beyond the limit (the hit is refused)."""
        key = self._key(subject, time.time())
        # add() then incr(): atomic on Redis and within one process on local memory.
        cache.add(key, 0, timeout=self.seconds + 60)
        try:
            return cache.incr(key) > self.count
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=self.seconds + 60)
            return 1 > self.count


def submits_per_ip() -> Limit:
    return Limit("submit-ip", settings.INTAKE_SUBMITS_PER_IP_HOUR, 3600)


def submits_per_phone() -> Limit:
    return Limit("submit-phone", settings.INTAKE_SUBMITS_PER_PHONE_DAY, 86400)


def query_failures_per_ip() -> Limit:
    return Limit("query-ip", settings.INTAKE_QUERY_FAILURES_PER_IP_HOUR, 3600)


def query_failures_per_ticket() -> Limit:
    return Limit("query-ticket", settings.INTAKE_QUERY_FAILURES_PER_TICKET_DAY, 86400)


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with HOTLINE_PROXY_COUNT proxies the entry they appended.

    Only the entries our own proxies add are trusted; anything further left in X-Forwarded-For
    was written by the client and would let it choose its own rate-limit bucket.
    """
    proxies = settings.HOTLINE_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def local_time(moment: datetime.datetime) -> str:
    """A retry time as people read it on the page: HH:MM today, or the date and time."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")
