"""Per-key (or, without a key, per-address) rate limits over Django's cache: a fixed one-minute window.

The counter is one cache entry per client and minute, raised with an atomic increment, so every
process sharing the cache (Redis in production) counts together. The embedded mode's in-memory
cache counts within its one process, which is all there is.
"""

import logging
import math

from django.core.cache import cache

from tickets import clock

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def rate_limit_hit(client: str, *, limit: int) -> int | None:
    """Count one request for `client`; return the seconds to wait when it is over `limit`, else None."""
    now = clock.now().timestamp()
    window = int(now // WINDOW_SECONDS)
    key = f"open311:rate:{client}:{window}"
    try:
        # add() is a no-op when the entry exists; incr() is atomic on Redis and under the local cache's lock.
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        count = cache.incr(key)
    except ValueError:  # the entry expired between add() and incr()
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    except Exception:
        # A cache outage must not close the hotline's front door: count nothing and say so in the log.
        logger.warning("open311 rate limit not checked: the cache is unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
