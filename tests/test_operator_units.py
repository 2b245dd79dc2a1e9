"""Pure pieces of the operator tools: reading both kinds of dead letter, durations, JSON logs."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from backfill.domain.dead_letter import Received, describe, parse_duration
from backfill.domain.errors import ConfigurationError
from backfill.domain.request import Reason, Request
from backfill.entrypoints.logs import CloudLoggingFormatter

TODAY = date(2024, 11, 20)
WHEN = datetime(2024, 11, 19, 8, 30, tzinfo=UTC)
REQUEST = Request(processor="team_defense_game_summary", game_date=date(2024, 11, 5),
                  game_ids=("20241105_BOS_NYK",), reason=Reason.MISSING, replay_count=1)


def test_a_dead_letter_forwarded_by_pubsub_says_how_often_it_was_delivered() -> None:
    letter = describe(Received("17", REQUEST.encode(), {
        **REQUEST.attributes(),
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "backfill-requests-push",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "nba",
        "CloudPubSubDeadLetterSourceTopicPublishTime": "2024-11-19T08:00:00Z"}, WHEN),
        today=TODAY)
    assert (letter.source, letter.attempts, letter.dead_lettered_at) == ("pubsub", 5, WHEN)
    assert "5 deliveries" in letter.error and "backfill-requests-push" in letter.error
    assert letter.request == REQUEST and letter.as_dict()["replay_count"] == 1


def test_a_worker_dead_letter_carries_its_error_and_time() -> None:
    letter = describe(Received("18", REQUEST.encode(), {
        "error_type": "PermanentError", "error_message": "minutes '3O:12'", "attempts": "3",
        "dead_lettered_by": "worker", "dead_lettered_at": "2024-11-19T09:00:00+00:00"}, WHEN),
        today=TODAY)
    assert letter.error == "PermanentError: minutes '3O:12'" and letter.attempts == 3
    assert letter.dead_lettered_at == datetime(2024, 11, 19, 9, tzinfo=UTC)


def test_a_malformed_dead_letter_is_shown_but_not_replayable() -> None:
    letter = describe(Received("19", b"{not json", {"error_type": "InvalidRequest",
                                                    "error_message": "body is not JSON"}, WHEN),
                      today=TODAY)
    assert letter.request is None and "not JSON" in (letter.problem or "")
    assert letter.as_dict(full=True)["body"] == "{not json"
    assert letter.as_dict()["replayable"] is False


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("12h", timedelta(hours=12)), ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2))])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "1.5h", "-3d"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(ConfigurationError, match=repr(text)):
        parse_duration(text)


def test_function_logs_are_cloud_logging_json_with_the_request_fields() -> None:
    record = logging.LogRecord("backfill.work", logging.WARNING, __file__, 1,
                               "dead_lettered %s", ("x",), None)
    record.processor, record.game_date, record.request_id = "p", "2024-11-05", "r-1"
    entry = json.loads(CloudLoggingFormatter().format(record))
    assert entry["severity"] == "WARNING" and entry["message"] == "dead_lettered x"
    assert (entry["processor"], entry["game_date"], entry["request_id"]) == \
        ("p", "2024-11-05", "r-1")
    try:
        raise ValueError("boom")
    except ValueError:
        crash = logging.LogRecord("backfill.work", logging.ERROR, __file__, 1, "crashed", (),
                                  sys.exc_info())
    entry = json.loads(CloudLoggingFormatter().format(crash))
    assert entry["severity"] == "ERROR" and "ValueError: boom" in entry["message"]
    assert "processor" not in entry
