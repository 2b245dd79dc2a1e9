"""The request message: one (processor, game_date) to fill, as published on `backfill-requests`."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backfill.domain.errors import InvalidRequest

# Upcoming-game context may be rerun for the week ahead; anything further is a mistake.
MAX_DAYS_AHEAD = 7
MAX_BODY_BYTES = 256 * 1024
PROCESSOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Request ids of hand-typed messages are uuid5s of their Pub/Sub message id in this namespace.
MESSAGE_NAMESPACE = uuid.UUID("5b0f3c2e-8d1a-4e0b-9c6f-2a7d1e4b9f30")


class Reason(StrEnum):
    MISSING = "missing"
    INCOMPLETE = "incomplete"
    STALE = "stale"
    TAMPERED = "tampered"  # Phase 3 rows no longer match the hashes their write recorded
    OUTDATED = "outdated"
    ORPHANED = "orphaned"  # Phase 3 rows with no Phase 2 game behind them: removed
    MANUAL = "manual"  # published by hand: `backfill publish`, or a body typed without a reason
    REPLAY = "replay"
    UPSTREAM_CHANGED = "upstream_changed"  # published by the worker that changed its inputs


class Follower(BaseModel):
    """A dependent's gap on the request's date, found behind this request's processor in the
    same detection: published by the worker once it has written the date, not before (it would
    only wait). Its own followers ride along, one level further."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    processor: str
    reason: Reason
    game_ids: tuple[str, ...] = ()
    followers: tuple[Follower, ...] = ()


class Request(BaseModel):
    """Fill `processor` for `game_date`; `game_ids` says which games were found missing.

    Only `processor` and `game_date` are required, so an operator can type a request by hand:
    without a reason it is `manual`; decode_request takes its id and time from the Pub/Sub
    message that carried it (a fresh id and the time of decoding only without one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    processor: str
    game_date: date
    game_ids: tuple[str, ...] = ()
    reason: Reason = Reason.MANUAL
    force: bool = False
    request_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    detection_run_id: str | None = None
    requested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    replay_count: int = Field(default=0, ge=0)
    # How many requests published it, one after the other, since a detection or a person did.
    depth: int = Field(default=0, ge=0)
    followers: tuple[Follower, ...] = ()

    @field_validator("processor")
    @classmethod
    def _processor_name(cls, value: str) -> str:
        if not PROCESSOR_NAME.match(value):
            raise ValueError("must be lower-case letters, digits and underscores")
        return value

    @field_validator("game_ids")
    @classmethod
    def _game_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > 100 or any(not 0 < len(g) <= 64 for g in value):
            raise ValueError("at most 100 ids of 1 to 64 characters")
        return value

    @field_validator("requested_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (RFC 3339)")
        return value.astimezone(UTC)

    @property
    def run_id(self) -> str:
        """The run (detection pass, publish, replay) it belongs to; a hand-typed request is a
        manual run of its own."""
        return self.detection_run_id or f"manual-{self.request_id[:12]}"

    def log_fields(self) -> dict[str, str]:
        """What a log line about this request carries, so logs can be filtered by it."""
        return {"processor": self.processor, "game_date": self.game_date.isoformat(),
                "request_id": self.request_id, "run_id": self.run_id}

    def attributes(self) -> dict[str, str]:
        """Pub/Sub attributes, so subscriptions and operators can filter without decoding."""
        return {"processor": self.processor, "game_date": self.game_date.isoformat(),
                "reason": self.reason.value}

    def encode(self) -> bytes:
        # Fields at their default are left out, so a worker deployed before them still reads it.
        body = self.model_dump(mode="json", exclude={
            name for name in ("replay_count", "depth", "followers") if not getattr(self, name)})
        body["game_ids"] = list(self.game_ids)
        return json.dumps(body, separators=(",", ":")).encode()


def decode_request(data: bytes, *, today: date, message_id: str = "",
                   published_at: datetime | None = None) -> Request:
    """Parse and validate a request body; raise InvalidRequest with a one-line reason.

    A body typed by hand has no `request_id` or `requested_at`: they are derived from the Pub/Sub
    message's id and publish time, which every redelivery repeats, so a redelivered request is
    the same request of the same manual run and ages out of a dependency wait.
    """
    if len(data) > MAX_BODY_BYTES:
        raise InvalidRequest(f"body is {len(data)} bytes, more than {MAX_BODY_BYTES}")
    if not data.strip():
        raise InvalidRequest("body is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        payload = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_nan)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidRequest(f"body is not JSON: {exc}") from None
    except RecursionError:  # json's own guard: nesting past the interpreter's recursion limit
        raise InvalidRequest("body is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidRequest(f"body is JSON {type(payload).__name__}, expected an object")
    fields = _json_types(payload)
    if message_id and "request_id" not in fields:
        fields["request_id"] = str(uuid.uuid5(MESSAGE_NAMESPACE, message_id))
    if published_at is not None and "requested_at" not in fields:
        fields["requested_at"] = published_at
    try:
        request = Request.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(_first_problem(exc)) from None
    if request.game_date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidRequest(f"game_date {request.game_date} is in the future (today is {today})")
    return request


def _json_types(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON's strings into the model's types; strict mode keeps everything else exact."""
    converted = dict(payload)
    if isinstance(converted.get("followers"), list):
        converted["followers"] = tuple(_follower(f) for f in converted["followers"])
    for key, parse in (("game_date", date.fromisoformat), ("requested_at", _rfc3339)):
        value = converted.get(key)
        if isinstance(value, str):
            try:
                converted[key] = parse(value)
            except ValueError:
                raise InvalidRequest(f"{key} {value[:40]!r} is not a valid "
                                     f"{'date (YYYY-MM-DD)' if key == 'game_date' else 'RFC 3339 time'}") from None
    if isinstance(converted.get("game_ids"), list):
        converted["game_ids"] = tuple(converted["game_ids"])
    if isinstance(converted.get("reason"), str) and converted["reason"] in Reason._value2member_map_:
        converted["reason"] = Reason(converted["reason"])
    return converted


def _follower(payload: Any) -> Any:
    """A follower's JSON as the model's types (strict mode takes no list for a tuple)."""
    if not isinstance(payload, dict):
        return payload
    converted = dict(payload)
    for key in ("game_ids", "followers"):
        if isinstance(converted.get(key), list):
            converted[key] = tuple(_follower(v) if key == "followers" else v
                                   for v in converted[key])
    if isinstance(converted.get("reason"), str) and converted["reason"] in Reason._value2member_map_:
        converted["reason"] = Reason(converted["reason"])
    return converted


def _rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"duplicated key {duplicated[0]!r}")
    return dict(pairs)


def _no_nan(token: str) -> Any:
    raise ValueError(f"{token} is not allowed")


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "missing":
        return f"missing field {field!r}"
    if error["type"] == "extra_forbidden":
        return f"unknown field {field!r}"
    if field == "reason":
        return f"field 'reason' must be one of {', '.join(r.value for r in Reason)}"
    if error["type"] == "tuple_type":
        return f"field {field!r} must be a list of game ids (strings)"
    if error["type"] == "date_type":
        return f"field {field!r} must be a date string (YYYY-MM-DD)"
    return f"field {field!r}: {error['msg']}"
