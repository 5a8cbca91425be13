"""When and how long to wait before repeating a request.

Hand-written rather than tenacity: the rules are protocol-specific (which methods are
idempotent, Retry-After, "POST only if never sent") and fit in one small class whose sleep is
injectable, so tests run without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits about ``base * 2**n`` (capped)."""

    retries: int = 3                  # repeats after the first attempt
    base: float = 0.5                 # seconds before the first repeat (before jitter)
    cap: float = 30.0                 # longest computed backoff
    max_retry_after: float = 60.0     # longest Retry-After honoured; longer ones are cut
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Delay before repeat number ``attempt`` (0-based): "equal jitter" in [d/2, d]."""
        delay = min(self.cap, self.base * 2.0 ** attempt)
        return delay / 2 + self.rng.uniform(0, delay / 2)

    def delay_for(self, attempt: int, response: httpx.Response | None) -> float:
        """Backoff, or the server's Retry-After when it asks for longer (capped)."""
        delay = self.backoff(attempt)
        if response is not None:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None:
                delay = max(delay, min(asked, self.max_retry_after))
        return delay


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def may_retry_status(method: str, status: int) -> bool:
    """A retryable answer for an idempotent request (POST was processed: never repeat it)."""
    return method.upper() in IDEMPOTENT_METHODS and status in RETRY_STATUSES


def may_retry_exception(method: str, exc: httpx.TransportError) -> bool:
    """Transport failures worth repeating; POST only when the request was never sent."""
    from .errorhandling import is_dns_failure, is_tls_failure

    if is_tls_failure(exc) or is_dns_failure(exc):
        return False  # a certificate or a name does not fix itself in a second
    if method.upper() in IDEMPOTENT_METHODS:
        return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError,
                                httpx.RemoteProtocolError))
    # Connect failures happen before a byte of the request is written.
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
