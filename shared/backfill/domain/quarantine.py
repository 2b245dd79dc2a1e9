"""Quarantine: games a processor refused, held out of detection until their Phase 2 rows change.

The quarantine table is append-only: a game is `held` when a worker refuses it and `released`
when it is written later or an operator releases it; the newest event of a game says which.
A held game is published again only once the content of its inputs differs from what it was
refused on (a corrected or deleted row), or the processor's version changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from backfill.domain.fingerprint import Inputs
from backfill.domain.games import GameKey, game_key
from backfill.domain.tables import schema


class Hold(StrEnum):
    HELD = "held"
    RELEASED = "released"


# As terraform/bigquery.tf has it (whose retired source_processed_at is no longer written).
QUARANTINE_SCHEMA = schema(processor="STRING", game_date="DATE", game_id="STRING",
                           state="STRING", reason="STRING", request_id="STRING", run_id="STRING",
                           recorded_at="TIMESTAMP", inputs="STRING")


@dataclass(frozen=True)
class QuarantineEvent:
    """One game held or released by one processor."""

    processor: str
    game_date: date
    game_id: str
    state: Hold
    reason: str
    # What the game was judged on (None: recorded before fingerprints, so it holds no more).
    inputs: Inputs | None
    recorded_at: datetime
    request_id: str | None = None
    run_id: str | None = None

    @property
    def key(self) -> GameKey:
        return game_key(self.game_date, self.game_id)

    @property
    def code(self) -> str | None:
        """The processor version that refused it."""
        return self.inputs.code if self.inputs is not None else None

    def still_holds(self, now: Inputs) -> bool:
        """Held, on the same version and on inputs whose content has not changed since."""
        return (self.state is Hold.HELD and self.inputs is not None
                and not self.version_changed(now) and not self.inputs.changed(now))

    def version_changed(self, now: Inputs) -> bool:
        return self.inputs is not None and self.inputs.code != now.code

    def as_row(self) -> dict[str, Any]:
        return {"processor": self.processor, "game_date": self.game_date,
                "game_id": self.game_id, "state": self.state.value, "reason": self.reason,
                "inputs": self.inputs.to_text() if self.inputs else None,
                "request_id": self.request_id,
                "run_id": self.run_id, "recorded_at": self.recorded_at}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QuarantineEvent:
        return cls(row["processor"], row["game_date"], row["game_id"], Hold(row["state"]),
                   row.get("reason") or "", Inputs.from_text(row.get("inputs")),
                   row["recorded_at"],
                   row.get("request_id"), row.get("run_id"))

    def as_dict(self) -> dict[str, Any]:
        return {**self.as_row(), "game_date": self.game_date.isoformat(),
                "recorded_at": self.recorded_at.isoformat()}


def current(events: Iterable[QuarantineEvent]) -> dict[str, dict[GameKey, QuarantineEvent]]:
    """The newest event of every (processor, game) that is still `held`, by processor."""
    newest: dict[tuple[str, GameKey], QuarantineEvent] = {}
    for event in events:
        seen = newest.get((event.processor, event.key))
        if seen is None or event.recorded_at >= seen.recorded_at:
            newest[(event.processor, event.key)] = event
    held: dict[str, dict[GameKey, QuarantineEvent]] = {}
    for (processor, key), event in newest.items():
        if event.state is Hold.HELD:
            held.setdefault(processor, {})[key] = event
    return held

