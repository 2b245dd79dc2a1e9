"""The worker's retry policy, built from tenacity's own pieces.

Transient errors only; exponential backoff with full jitter; a total budget below the function
timeout (a retry never starts a sleep that would end past the budget). Sleep is injectable.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from backfill.domain.errors import TransientError

log = logging.getLogger("backfill.retry")

MAX_ATTEMPTS = 8


def retry_policy(budget_seconds: float, *, sleep: Callable[[float], None] = time.sleep,
                 first_wait: float = 0.5, max_wait: float = 60.0,
                 fields: Mapping[str, str] | None = None) -> Retrying:
    """Retry TransientError with jittered exponential backoff inside `budget_seconds`; each
    retry's warning carries `fields` (the request's: processor, game_date, request_id, run_id)."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential(multiplier=first_wait, max=min(max_wait, budget_seconds / 4)),
        stop=stop_before_delay(budget_seconds) | stop_after_attempt(MAX_ATTEMPTS),
        before_sleep=functools.partial(_log_retry, dict(fields or {})),
        sleep=sleep,
        reraise=False,
    )


def _log_retry(fields: dict[str, str], state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("attempt %d failed with %s: %s; retrying in %.2fs", state.attempt_number,
                type(error).__name__, error, state.upcoming_sleep,
                extra={**fields, "attempt": state.attempt_number})
