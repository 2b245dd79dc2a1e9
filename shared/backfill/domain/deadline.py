"""A delivery's hard deadline: every call it makes gets `min(its own timeout, the time left)`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backfill.domain.errors import OutOfTime


@dataclass(frozen=True)
class Deadline:
    """A moment on `clock` (seconds, monotonic) that work must end by."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def left(self) -> float:
        return max(0.0, self.at - self.clock())

    def timeout(self, cap: float) -> float:
        """The timeout a call may take; OutOfTime when nothing is left."""
        left = self.left()
        if left <= 0:
            raise OutOfTime("the delivery ran out of time")
        return min(cap, left)

    def extended(self, seconds: float) -> Deadline:
        """A later deadline: the reserve for dead-lettering and auditing after the work's own."""
        return Deadline(self.at + seconds, self.clock)
