"""Messages as pure functions: request bodies, push envelopes, dead letters spelled as attributes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from backfill.adapters.pubsub_push import (
    MAX_ATTRIBUTE_BYTES,
    cut,
    dead_letter_message,
    decode_push,
    why_dead_lettered,
)
from backfill.domain.dead_letter import Why
from backfill.domain.errors import InvalidRequest
from backfill.domain.request import MAX_BODY_BYTES, Reason, Request, decode_request
from backfill.ports import Delivery

TODAY = date(2024, 11, 20)
DATA = Path(__file__).parent.parent / "data"


def body(**fields: object) -> bytes:
    request = {"processor": "player_game_summary", "game_date": "2024-11-01",
               "game_ids": ["20241101_BKN_MIL"], "reason": "missing", "force": False,
               "request_id": "r-1", "detection_run_id": None,
               "requested_at": "2024-11-02T10:00:00Z"}
    request.update(fields)
    return json.dumps({k: v for k, v in request.items() if v is not ...}).encode()


def test_a_request_round_trips_through_its_json_body() -> None:
    request = Request(processor="player_game_summary", game_date=date(2024, 11, 1),
                      game_ids=("20241101_BKN_MIL",), reason=Reason.MISSING,
                      detection_run_id="run1")
    decoded = decode_request(request.encode(), today=TODAY)
    assert decoded == request
    assert request.attributes() == {"processor": "player_game_summary",
                                    "game_date": "2024-11-01", "reason": "missing"}
    assert json.loads(request.encode())["requested_at"].endswith("Z")
    assert sorted(json.loads(request.encode())) == sorted(
        ["processor", "game_date", "game_ids", "reason", "force", "request_id",
         "detection_run_id", "requested_at"])
    assert decoded.run_id == "run1"


def test_a_body_typed_by_hand_with_processor_and_date_only_is_a_manual_request() -> None:
    before = datetime.now(UTC)
    typed = decode_request(b'{"processor": "player_game_summary", "game_date": "2024-11-05"}',
                           today=TODAY)
    assert typed.reason is Reason.MANUAL and not typed.force and typed.game_ids == ()
    assert typed.requested_at >= before and len(typed.request_id) == 36
    assert typed.detection_run_id is None and typed.run_id.startswith("manual-")
    forced = decode_request(b'{"processor": "player_game_summary", "game_date": "2024-11-05",'
                            b' "force": true}', today=TODAY)
    assert forced.force and forced.request_id != typed.request_id


@pytest.mark.parametrize(("raw", "problem"), [
    (b"", "body is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "expected an object"),
    (body(processor=...), "missing field 'processor'"),
    (body(game_date=...), "missing field 'game_date'"),
    (body(game_date="2024-13-01"), "game_date '2024-13-01' is not a valid date"),
    (body(game_date="2031-01-01"), "is in the future"),
    (body(reason="because"), "field 'reason'"),
    (body(force="yes"), "field 'force'"),
    (body(game_ids="20241101_BKN_MIL"), "field 'game_ids'"),
    (body(processor="x; DROP TABLE t"), "field 'processor'"),
    (body(surprise=1), "unknown field 'surprise'"),
    (b'{"processor": "a", "processor": "b"}', "duplicated key 'processor'"),
    (body(requested_at="yesterday"), "requested_at 'yesterday' is not a valid RFC 3339 time"),
    (b"x" * (300 * 1024), "more than"),
])
def test_a_malformed_body_is_refused_with_a_reason_naming_the_problem(raw: bytes,
                                                                    problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_request(raw, today=TODAY)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("case", sorted((DATA / "push").glob("*.json")), ids=lambda p: p.stem)
def test_push_envelopes_decode_or_fail_as_recorded(case: Path) -> None:
    recorded = json.loads(case.read_text())
    raw = json.dumps(recorded["envelope"]).encode()
    expected = recorded["expected"]
    if "error" in expected:
        with pytest.raises(InvalidRequest, match=expected["error"]):
            decode_push(raw)
        return
    delivery = decode_push(raw)
    assert json.loads(delivery.data) == expected["data"]
    assert delivery.delivery_attempt == expected["delivery_attempt"]
    assert delivery.message_id == expected["message_id"]
    assert delivery.published_at == (datetime.fromisoformat(expected["published_at"])
                                     if "published_at" in expected else None)


def test_a_typed_request_is_the_same_request_on_every_redelivery_of_its_message() -> None:
    """No request_id / requested_at in the body: both come from the message (its id, its publish
    time), so a redelivery is the same request of the same manual run, and it ages."""
    first, again = (decode_push(json.dumps(json.loads((DATA / "push" / name).read_text())
                                           ["envelope"]).encode())
                    for name in ("typed_by_hand.json", "typed_by_hand_redelivered.json"))
    assert (first.delivery_attempt, again.delivery_attempt) == (1, 7)
    decoded = [decode_request(d.data, today=TODAY, message_id=d.message_id,
                              published_at=d.published_at) for d in (first, again, first)]
    assert decoded[0] == decoded[1] == decoded[2]
    assert decoded[0].requested_at == datetime(2024, 11, 6, 10, 0, 0, 123456, tzinfo=UTC)
    assert decoded[0].run_id == decoded[1].run_id and decoded[0].run_id.startswith("manual-")
    other = decode_request(first.data, today=TODAY, message_id="11982751468425131",
                           published_at=first.published_at)
    assert other.request_id != decoded[0].request_id and other.run_id != decoded[0].run_id
    # What the body says wins: a request published by Backfill keeps its own id and time.
    published = decode_request(body(), today=TODAY, message_id=first.message_id,
                               published_at=first.published_at)
    assert (published.request_id, published.requested_at) == (
        "r-1", datetime(2024, 11, 2, 10, tzinfo=UTC))


def test_attribute_values_are_cut_to_1024_bytes_of_utf8_never_inside_a_character() -> None:
    name = "Luka Dončić " * 200
    value = cut(name)
    assert len(value.encode("utf-8")) <= MAX_ATTRIBUTE_BYTES
    assert value.endswith("...") and "\ufffd" not in value
    assert cut("short") == "short"


def test_a_dead_letter_copies_only_known_attributes_and_reads_back_as_it_was_written() -> None:
    request = Request(processor="player_game_summary", game_date=date(2024, 11, 1),
                      reason=Reason.MISSING, detection_run_id="run7")
    noise = {f"x{i}": "y" for i in range(120)}  # Pub/Sub allows 100 attributes a message
    why = Why("worker", "GamesRefused", "1 games refused: 20241101_BKN_MIL: player jokić: "
              + "minutes 'Ø' " * 200, 2, datetime(2024, 11, 2, tzinfo=UTC),
              refused={"20241101_BKN_MIL": "player jokić: minutes"})
    data, attributes = dead_letter_message(
        Delivery(request.encode(), {**request.attributes(), **noise}), why, request)
    assert data == request.encode()
    assert not set(attributes) & set(noise)
    assert all(len(v.encode()) <= MAX_ATTRIBUTE_BYTES for v in attributes.values())
    assert (attributes["run_id"], attributes["processor"]) == ("run7", "player_game_summary")
    back = why_dead_lettered(attributes, datetime.now(UTC))
    assert (back.source, back.error_type, back.attempts) == ("worker", "GamesRefused", 2)
    assert set(back.refused) == {"20241101_BKN_MIL"}
    assert back.dead_lettered_at == datetime(2024, 11, 2, tzinfo=UTC)


def test_an_oversized_body_is_cut_and_says_how_big_it_was() -> None:
    huge = b"x" * (MAX_BODY_BYTES * 3)
    data, attributes = dead_letter_message(Delivery(huge), Why("worker", "InvalidRequest", "big"),
                                           None)
    assert len(data) == MAX_BODY_BYTES and attributes["body_bytes"] == str(len(huge))


def test_pubsubs_own_dead_letters_say_how_many_deliveries_went_unacknowledged() -> None:
    why = why_dead_lettered({"CloudPubSubDeadLetterSourceDeliveryCount": "60",
                             "CloudPubSubDeadLetterSourceSubscription": "push"},
                            datetime(2024, 11, 2, tzinfo=UTC))
    assert why.source == "pubsub" and why.attempts == 60
    assert "not acknowledged after 60 deliveries" in why.error
