"""The worker as deployed: a functions-framework server fed by a real push subscription on the
emulator, with the retry and dead-letter policies Terraform gives it; overload in front of it;
and `backfill stack`, which serves that whole topology locally."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from backfill.adapters.pubsub_queue import PubSubQueue
from backfill.adapters.pubsub_topology import Topology, create_topology
from backfill.domain.request import MESSAGE_NAMESPACE, Reason, Request
from backfill.domain.tables import OpsTables
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.stack import answers, emulator_ready, free_port
from backfill.service.audit import read_history
from backfill.settings import Settings

from tests.support import (
    DEFENSE,
    OFFENSE,
    PLAYERS,
    backfill,
    empty,
    environment,
    function_server,
    json_out,
    pull_all,
    rows,
    unique_settings,
    wait_for,
)

DAY = date(2024, 11, 6)


def push_topology(settings: Settings, endpoint: str, **policy: int) -> None:
    """The push subscription to `endpoint`, with a quick retry backoff for the test (and the
    audit topic with its drained subscription, if the settings name one)."""
    create_topology(Topology(
        settings.project, settings.requests_topic, settings.push_subscription,
        settings.dead_letter_topic, settings.dead_letter_subscription,
        policy.pop("max_delivery_attempts", settings.max_delivery_attempts), endpoint,
        settings.audit_topic, settings.audit_subscription,
        **{"ack_deadline_seconds": 30, "min_backoff_seconds": 1, "max_backoff_seconds": 2,
           **policy}))


def queue(settings: Settings) -> PubSubQueue:
    return PubSubQueue(settings.project, settings.requests_topic, settings.dead_letter_topic)


def letters(settings: Settings, wait_seconds: float = 1.0) -> list[dict[str, object]]:
    return [{"data": m.message.data, **dict(m.message.attributes)}
            for m in pull_all(settings, settings.dead_letter_subscription,
                              wait_seconds=wait_seconds)]


class Overloaded:
    """A proxy in front of the worker that answers 429 to the first `k` deliveries of each
    message, as Cloud Run does when every instance is busy, then forwards them."""

    def __init__(self, worker_url: str, k: int) -> None:
        self.k = k
        self.deliveries: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                message_id = json.loads(body)["message"]["messageId"]
                with lock:
                    proxy.deliveries[message_id] += 1
                    busy = proxy.deliveries[message_id] <= proxy.k
                if busy:
                    status, reply = 429, b"Rate exceeded."
                else:
                    status, reply = forward(worker_url, body)
                with lock:
                    proxy.statuses[status] += 1
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def forward(url: str, body: bytes) -> tuple[int, bytes]:
    call = urllib.request.Request(url, data=body, method="POST",
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=60) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@contextmanager
def overloaded_worker(settings: Settings, k: int, **policy: int) -> Iterator[Overloaded]:
    with function_server("work", settings) as url:
        proxy = Overloaded(url, k)
        try:
            push_topology(settings, proxy.url, **policy)
            yield proxy
        finally:
            proxy.close()


def test_a_pushed_request_fills_its_date_and_leaves_no_dead_letter(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    lost = empty(warehouse, OFFENSE, DAY)
    with function_server("work", settings) as url:
        push_topology(settings, url)
        queue(settings).publish([Request(processor=OFFENSE, game_date=DAY)])
        wait_for(lambda: len(rows(warehouse, OFFENSE, DAY)) == len(lost), what="the fill")
    assert letters(settings) == []


def test_a_malformed_message_is_dead_lettered_once_in_one_delivery_with_its_reason(
        settings: Settings) -> None:
    body = b'{"processor": "player_game_summary"}'
    with overloaded_worker(settings, k=0) as proxy:
        published = queue(settings)
        published.publisher.publish(published.requests_topic, body, origin="by-hand").result()
        found = wait_for(lambda: letters(settings), what="the dead letter")
        time.sleep(3)  # a redelivery would have come by now (backoff 1-2 s)
        found += letters(settings)
    [letter] = found
    assert letter["error_type"] == "InvalidRequest"
    assert letter["error_message"] == "missing field 'game_date'"
    assert (letter["dead_lettered_by"], letter["attempts"]) == ("worker", "1")
    assert "origin" not in letter  # only the request's own attributes are copied
    assert not any(str(k).startswith("CloudPubSubDeadLetter") for k in letter)
    assert letter["data"] == body
    assert list(proxy.deliveries.values()) == [1] and proxy.statuses == {200: 1}


def test_an_overloaded_worker_answering_429_still_fills_every_request_without_dead_letters(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    """Cloud Run answers 429 while every instance is busy, and Pub/Sub counts each as a failed
    delivery: below max_delivery_attempts (60 since issue 14), nothing is dead-lettered.

    Published one after the other: the emulator (0.8.20) stops redelivering some of several
    messages whose pushes fail at the same time, for minutes; Pub/Sub does not.
    """
    days = [date(2024, 11, d) for d in (4, 5, 6)]
    # A processor no other reads: its writes publish no follow-ups to count here.
    lost = {day: len(empty(warehouse, DEFENSE, day)) for day in days}
    k = 3
    assert k < settings.max_delivery_attempts == 60
    with overloaded_worker(settings, k) as proxy:
        for n, day in enumerate(days, start=1):
            queue(settings).publish([Request(processor=DEFENSE, game_date=day,
                                             reason=Reason.MISSING)])
            wait_for(lambda: proxy.statuses[200] == n, seconds=60,  # noqa: B023 - waited here
                     what=f"{day} acknowledged after its 429s")
            assert len(rows(warehouse, DEFENSE, day)) == lost[day]
    assert sorted(proxy.deliveries.values()) == [k + 1] * len(days)
    assert proxy.statuses == {429: k * len(days), 200: len(days)}
    assert letters(settings, wait_seconds=2) == []


def test_a_worker_that_never_answers_is_forwarded_by_pubsubs_dead_letter_policy(
        settings: Settings, warehouse: DuckDBWarehouse) -> None:
    """The net under the worker's own dead letters: past max_delivery_attempts, Pub/Sub forwards
    the message, and `dlq list` says how often it went unacknowledged."""
    empty(warehouse, OFFENSE, DAY)
    with overloaded_worker(settings, k=1000, max_delivery_attempts=5) as proxy:
        queue(settings).publish([Request(processor=OFFENSE, game_date=DAY)])
        found = wait_for(lambda: {m.message.message_id: m for m in pull_all(
            settings, settings.dead_letter_subscription, ack=False, wait_seconds=1)},
            seconds=90, what="the forward")  # peeked, not consumed: `dlq list` reads it below
    [letter] = found.values()
    attributes = dict(letter.message.attributes)
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["processor"] == OFFENSE
    assert sum(proxy.deliveries.values()) == 5 and proxy.statuses == {429: 5}
    [shown] = json_out(backfill(settings, "dlq", "list", "--json"))
    assert (shown["source"], shown["attempts"], shown["replayable"]) == ("pubsub", 5, True)
    assert rows(warehouse, OFFENSE, DAY) == []


def test_a_request_waiting_on_its_dependency_is_redelivered_until_it_is_too_old(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    """Given up by its age (dependency_wait_seconds), not by counting deliveries, and
    dead-lettered by the worker with the reason."""
    settings = unique_settings(warehouse_path, dependency_wait_seconds=4.0)
    empty(warehouse, OFFENSE, DAY)
    empty(warehouse, PLAYERS, DAY)
    with overloaded_worker(settings, k=0) as proxy:
        started = time.monotonic()
        queue(settings).publish([Request(processor=PLAYERS, game_date=DAY,
                                         reason=Reason.MISSING)])
        [letter] = wait_for(lambda: letters(settings), seconds=60, what="the dead letter")
        elapsed = time.monotonic() - started
    assert letter["error_type"] == "DependencyNotReady"
    assert f"{OFFENSE} is missing for {DAY}" in str(letter["error_message"])
    assert "gave up after waiting" in str(letter["error_message"])
    assert elapsed >= 4.0
    (deliveries,) = proxy.deliveries.values()
    assert deliveries >= 2 and proxy.statuses == {503: deliveries - 1, 200: 1}
    assert rows(warehouse, PLAYERS, DAY) == []


def test_a_typed_request_is_the_same_request_on_every_redelivery_and_ages_out(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    """A body typed by hand (processor and date only) takes its id and time from the message
    the emulator pushes (messageId, publishTime): every redelivery is the same request, so it
    ages out of its dependency wait instead of cycling until the last delivery attempt."""
    settings = unique_settings(warehouse_path, dependency_wait_seconds=4.0)
    empty(warehouse, OFFENSE, DAY)
    empty(warehouse, PLAYERS, DAY)
    body = json.dumps({"processor": PLAYERS, "game_date": str(DAY)}).encode()
    with overloaded_worker(settings, k=0) as proxy:
        published = queue(settings)
        message_id = published.publisher.publish(published.requests_topic, body).result()
        [letter] = wait_for(lambda: letters(settings), seconds=60, what="the dead letter")
    assert letter["error_type"] == "DependencyNotReady"
    assert "gave up after waiting" in str(letter["error_message"])
    request_id = str(uuid.uuid5(MESSAGE_NAMESPACE, message_id))
    assert (letter["request_id"], letter["run_id"]) == (request_id, f"manual-{request_id[:12]}")
    (deliveries,) = proxy.deliveries.values()
    assert deliveries >= 2 and proxy.statuses == {503: deliveries - 1, 200: 1}


def test_backfill_stack_serves_the_local_topology_and_stops_everything_it_started(
        warehouse_path: Path, warehouse: DuckDBWarehouse, pubsub_emulator: str) -> None:
    settings = unique_settings(warehouse_path)
    lost = empty(warehouse, OFFENSE, DAY)
    started = datetime.now(UTC)
    env = environment(settings)
    env.pop("PUBSUB_EMULATOR_HOST")  # the stack starts an emulator of its own
    stack = subprocess.Popen(
        [sys.executable, "-m", "backfill.local", "stack", "--worker-port", str(free_port()),
         "--detector-port", str(free_port())],
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert stack.stdout is not None
        exports = stack.stdout.readline()
        host = exports.split("PUBSUB_EMULATOR_HOST=")[1].split()[0]
        served = [stack.stdout.readline() for _ in range(3)]
        detector = next(line for line in served if line.startswith("detector")).split()[1]
        assert any(line.startswith("worker") for line in served)
        published = subprocess.run(
            [sys.executable, "-c", "import json,sys,urllib.request;"
             "r=urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST',"
             " data=b'{\"start_date\": \"2024-11-01\", \"end_date\": \"2024-11-14\"}'));"
             "print(json.load(r)['published'])", detector],
            env={**os.environ, "PUBSUB_EMULATOR_HOST": host}, capture_output=True, text=True,
            timeout=60, check=True)
        assert published.stdout.strip() == "1"
        wait_for(lambda: len(rows(warehouse, OFFENSE, DAY)) == len(lost), what="the fill")
        # The worker published its audit row; the stack's drain put it in the table.
        wait_for(lambda: [r["outcome"] for r in read_history(
            warehouse, OpsTables(settings.audit_dataset), since=started, until=datetime.now(UTC),
            processor=OFFENSE, game_date=DAY)] == ["succeeded"], seconds=30, what="the audit row")
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=30)
    assert stack.returncode == 0
    # Nothing it started is still listening: not the emulator, not the functions.
    assert not emulator_ready(host)
    assert not answers(detector)
