"""Retry with exponential backoff, full jitter and a cap: the one retry loop."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lakehouse.core.errors import is_transient

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How often and how long to wait between attempts.

    Attempt ``n`` (1-based) that fails waits ``uniform(0, min(max_delay,
    base_delay * 2 ** (n - 1)))`` seconds before attempt ``n + 1`` ("full
    jitter": concurrent writers that collided spread out instead of colliding
    again in step).
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)


def retry(
    fn: Callable[[], T],
    backoff: Backoff = Backoff(),
    *,
    retryable: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs, or attempts run out.

    Args:
        fn: the work; called with no arguments.
        backoff: attempts and delays.
        retryable: decides whether an exception is worth another attempt.
        sleep: waits between attempts (tests pass a recorder).
        on_retry: called as ``on_retry(attempt, exc, delay)`` before each wait.
        rng: source of jitter (tests pass a seeded one).

    Returns:
        What ``fn`` returned.

    Raises:
        The last exception when it is not retryable or no attempt is left.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= backoff.attempts or not retryable(exc):
                raise
            delay = backoff.delay(attempt, rng)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            else:
                log.warning("attempt %d failed (%s); retrying in %.2fs", attempt, exc, delay)
            sleep(delay)
            attempt += 1
