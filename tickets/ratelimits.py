"""Rate limits of the public doors (web intake, Open311), counted in Django's cache in fixed windows,
and the client address they count by.

The cache is Redis in production, so every process counts together; the embedded mode's in-memory
cache counts within its one process, which is all there is. Keys carry a keyed hash of what they
count (an address, a phone number, a key id), never the value itself. A cache outage must not close
the hotline's front doors: the hit is let through and the log says so.
"""

import datetime
import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per window of `seconds` for one subject; `name` keeps the counters apart."""

    name: str
    count: int
    seconds: int

    def _window(self, now: float) -> int:
        return int(now // self.seconds)

    def _key(self, subject: str, now: float) -> str:
        digest = salted_hmac("tickets.ratelimits", f"{self.name}:{subject}").hexdigest()[:32]
        return f"limit:{self.name}:{self._window(now)}:{digest}"

    def retry_at(self, now: float | None = None) -> datetime.datetime:
        """When the current window ends and the subject may try again."""
        now = time.time() if now is None else now
        return datetime.datetime.fromtimestamp((self._window(now) + 1) * self.seconds, tz=datetime.UTC)

    def exceeded(self, subject: str) -> bool:
        """True when the subject has used up this window (reading does not count as a hit)."""
        try:
            return (cache.get(self._key(subject, time.time())) or 0) >= self.count
        except Exception:
            logger.warning("rate limit %s not checked: the cache is unavailable", self.name, exc_info=True)
            return False

    def hit(self, subject: str) -> bool:
        """Count one hit; True when it is beyond the limit (the hit is refused)."""
        key = self._key(subject, time.time())
        try:
            # add() then incr(): atomic on Redis and under the local cache's lock.
            cache.add(key, 0, timeout=self.seconds + 60)
            try:
                return cache.incr(key) > self.count
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, timeout=self.seconds + 60)
                return 1 > self.count
        except Exception:
            logger.warning("rate limit %s not checked: the cache is unavailable", self.name, exc_info=True)
            return False


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with HOTLINE_PROXY_COUNT proxies the entry they appended.

    Only the entries our own proxies add are trusted; anything further left in X-Forwarded-For was
    written by the client and would let it choose its own rate-limit bucket. "" when what is found
    is not an IP address.
    """
    raw = request.META.get("REMOTE_ADDR", "")
    proxies = settings.HOTLINE_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            raw = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return ""
