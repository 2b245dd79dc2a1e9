"""How a delivery ends, decided in one place from what its attempts did (a pure function).

| what the attempts did                         | outcome        | dead letter by the worker |
|-----------------------------------------------|----------------|---------------------------|
| wrote every game                              | succeeded      | no                        |
| wrote some, refused or kept waiting others     | partial        | yes if any game refused   |
| found the date complete (no `force`)          | skipped        | no                        |
| found the request's run cancelled             | cancelled      | no                        |
| an upstream processor has not filled the date, or the target cannot be written yet (NotReady) | retry (Pub/Sub redelivers with backoff), until the request is older than the dependency wait or this is the last delivery attempt: then dead-lettered | on its last chance |
| transient errors until the budget ran out     | dead_lettered  | yes                       |
| a permanent error, a malformed request        | dead_lettered  | yes, at once              |
| a processor crash (a bug)                     | dead_lettered  | yes, at once              |
| a configuration error (a permission the deployment lacks, a table Backfill may not write) | none: not settled, the function answers 500 and Pub/Sub delivers it again | no |

Pub/Sub's own dead-letter policy only ever forwards what the worker could not answer at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from backfill.domain.errors import BackfillError, NotReady, TransientError

# The error type of a partial result's dead letter: games refused and held in quarantine.
REFUSED = "GamesRefused"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    PARTIAL = "partial"    # some games written, others refused (quarantined) or waiting
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"  # not finished: let Pub/Sub deliver it again later

    @property
    def acknowledged(self) -> bool:
        return self is not Outcome.RETRY

    @property
    def publishes_followers(self) -> bool:
        """The date is written or found complete: what waited on it may go. Not when
        dead-lettered (the dead letter keeps the followers, for replay) or cancelled."""
        return self in (Outcome.SUCCEEDED, Outcome.PARTIAL, Outcome.SKIPPED)


@dataclass(frozen=True)
class Failure:
    """One failed attempt: when, and what went wrong."""

    at: datetime
    error_type: str
    message: str

    @property
    def text(self) -> str:
        return f"{self.error_type}: {self.message}"


@dataclass(frozen=True)
class Done:
    """An attempt that computed and wrote the date: game id -> reason for those not written,
    and why the date was computed (what the re-check found)."""

    rows_written: int
    games_written: int
    refused: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    why: str = ""
    changed: tuple[str, ...] = ()  # the games whose values the write changed (or added)


@dataclass(frozen=True)
class Skipped:
    why: str


@dataclass(frozen=True)
class Cancelled:
    run_id: str

    @property
    def why(self) -> str:
        return f"run {self.run_id} was cancelled"


@dataclass(frozen=True)
class Waiting:
    """An upstream processor has a gap on the date: computing now would use missing inputs (or,
    `NotReady`, the target cannot be written yet)."""

    why: str
    kind: str = "DependencyNotReady"


Ended = Done | Skipped | Cancelled | Waiting


@dataclass(frozen=True)
class Policy:
    """When a waiting request gives up: by its age, or on the last delivery Pub/Sub will make."""

    dependency_wait: timedelta
    max_delivery_attempts: int


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    error_type: str | None = None
    error: str | None = None
    dead_letter: bool = False  # the worker publishes a dead letter saying why


def settle(ended: Ended | None, error: BaseException | None, attempts: int, *,
           age: timedelta, delivery_attempt: int | None, policy: Policy) -> Verdict:
    """The outcome of a delivery whose last attempt ended with `ended` or raised `error`."""
    if isinstance(ended, Done):
        if not ended.refused and not ended.waiting:
            return Verdict(Outcome.SUCCEEDED)
        refused = "; ".join(f"{g}: {why}" for g, why in sorted(ended.refused.items()))
        waiting = "; ".join(f"{g}: {why}" for g, why in sorted(ended.waiting.items()))
        text = "; ".join(filter(None, (
            refused and f"{len(ended.refused)} games refused (held in quarantine): {refused}",
            waiting and f"{len(ended.waiting)} games waiting on an upstream processor: {waiting}")))
        return Verdict(Outcome.PARTIAL, REFUSED if ended.refused else "GamesWaiting",
                       text, dead_letter=bool(ended.refused))
    if isinstance(error, NotReady):
        ended, error = Waiting(str(error), type(error).__name__), None
    if isinstance(ended, Skipped):
        return Verdict(Outcome.SKIPPED, error=None)
    if isinstance(ended, Cancelled):
        return Verdict(Outcome.CANCELLED, error=ended.why)
    if isinstance(ended, Waiting):
        last_chance = (delivery_attempt or 1) >= policy.max_delivery_attempts
        if age < policy.dependency_wait and not last_chance:
            return Verdict(Outcome.RETRY, ended.kind, ended.why)
        given_up = ("on the last delivery attempt" if last_chance
                    else f"after waiting {_span(age)} (limit {_span(policy.dependency_wait)})")
        return Verdict(Outcome.DEAD_LETTERED, ended.kind,
                       f"{ended.why}; gave up {given_up}", dead_letter=True)
    assert error is not None, "an attempt either ends or fails"
    if isinstance(error, TransientError):
        return Verdict(Outcome.DEAD_LETTERED, type(error).__name__,
                       f"retry budget exhausted after {attempts} attempts: {error}",
                       dead_letter=True)
    if isinstance(error, BackfillError):
        return Verdict(Outcome.DEAD_LETTERED, type(error).__name__, str(error), dead_letter=True)
    return Verdict(Outcome.DEAD_LETTERED, "ProcessorCrash", f"{type(error).__name__}: {error}",
                   dead_letter=True)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds}s"
