"""Per-key (or, without a key, per-address) rate limits of the Open311 API: a fixed one-minute window,
counted by tickets.ratelimits in Django's cache (a cache outage lets requests through, logged).
"""

import math
import time

from tickets.ratelimits import Limit

WINDOW_SECONDS = 60


def rate_limit_hit(client: str, *, limit: int) -> int | None:
    """Count one request for `client`; return the seconds to wait when it is over `limit`, else None."""
    rule = Limit("open311", limit, WINDOW_SECONDS)
    if not rule.hit(client):
        return None
    return max(1, math.ceil(rule.retry_at().timestamp() - time.time()))
