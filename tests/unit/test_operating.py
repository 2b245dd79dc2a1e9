"""Operators at scale: the dead-letter inbox keeps pulling until the queue is really empty and
renews its hold during a long replay; `history` filters, orders and limits in the query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from backfill.adapters.pubsub_inbox import EMPTY_PULLS, HOLD_SECONDS, PubSubLease
from backfill.adapters.sql import BIGQUERY, read_sql
from backfill.bootstrap import Backfill
from backfill.domain.request import Request
from backfill.ports import Delivery
from backfill.service.audit import read_history


@dataclass
class ScriptedSubscriber:
    """Pub/Sub's synchronous pull as it behaves under load (it cannot be made to on cue here):
    it may answer with fewer messages than there are, or none while some remain."""

    answers: list[list[str]]
    held: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    pulls: int = 0

    def pull(self, **_: Any) -> Any:
        self.pulls += 1
        ids = self.answers.pop(0) if self.answers else []
        return SimpleNamespace(received_messages=[SimpleNamespace(ack_id=f"ack-{i}", message=(
            SimpleNamespace(message_id=i, data=b"{}", attributes={"error_type": "X"},
                            publish_time=datetime(2024, 11, 2, tzinfo=UTC)))) for i in ids])

    def modify_ack_deadline(self, *, subscription: str, ack_ids: list[str],
                            ack_deadline_seconds: int) -> None:
        self.held.append((tuple(ack_ids), ack_deadline_seconds))


def test_the_inbox_pulls_until_several_empty_answers_in_a_row() -> None:
    subscriber = ScriptedSubscriber([["a", "b"], [], ["c"], [], [], ["d"], [], [], [], ["e"]])
    lease = PubSubLease(subscriber, "projects/p/subscriptions/dlq")
    lease.pull_all()
    # An empty answer between two batches did not end it; EMPTY_PULLS in a row did.
    assert [m.message_id for m in lease.messages] == ["a", "b", "c", "d"]
    assert subscriber.pulls == 6 + EMPTY_PULLS
    assert all(seconds == HOLD_SECONDS for _, seconds in subscriber.held)


def test_a_long_replay_renews_its_hold_on_the_messages_still_held() -> None:
    now = [0.0]
    subscriber = ScriptedSubscriber([["a", "b"]])
    lease = PubSubLease(subscriber, "projects/p/subscriptions/dlq", clock=lambda: now[0])
    lease.pull_all()
    held_before = len(subscriber.held)
    lease.keep_alive()
    assert len(subscriber.held) == held_before  # too soon: nothing to renew
    now[0] = HOLD_SECONDS / 2
    lease.keep_alive()
    assert subscriber.held[-1] == (("ack-a", "ack-b"), HOLD_SECONDS)


def test_history_filters_orders_and_limits_in_the_query_on_the_partition_column(
        filled_app: Backfill) -> None:
    worker = filled_app.worker()
    started = datetime.now(UTC)
    for day in (date(2025, 1, 14), date(2025, 1, 15), date(2025, 1, 14)):
        request = Request(processor="team_offense_game_summary", game_date=day)
        worker.handle(Delivery(request.encode()))
    rows = read_history(filled_app.warehouse, filled_app.ops, since=started,
                        until=datetime.now(UTC) + timedelta(minutes=1),
                        game_date=date(2025, 1, 14), limit=1)
    assert len(rows) == 1 and rows[0]["game_date"] == date(2025, 1, 14)
    everything = read_history(filled_app.warehouse, filled_app.ops, since=started,
                              until=datetime.now(UTC) + timedelta(minutes=1))
    assert [r["logged_at"] for r in everything] == sorted(
        (r["logged_at"] for r in everything), reverse=True)
    assert rows[0] == everything[0]
    from backfill.ports import Read

    sql, parameters = read_sql(Read(filled_app.ops.log, started, started, by="logged_at",
                                    equals=(("processor", "p"),), newest_first=True, limit=5),
                               BIGQUERY)
    assert sql == ("SELECT * FROM `backfill_ops`.`backfill_log` WHERE logged_at BETWEEN @start "
                   "AND @end AND processor = @equals_0 ORDER BY logged_at DESC LIMIT @limit")
    assert parameters["limit"] == 5 and parameters["equals_0"] == "p"
