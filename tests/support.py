"""Helpers the integration and e2e tiers share: a seeded warehouse, settings of a test's own,
the real CLI in a subprocess, servers they start and stop, and small readers of what happened.

The fixtures at the bottom are imported by tests/integration/conftest.py and
tests/e2e/conftest.py; the session's Pub/Sub emulator is `pubsub_emulator` (tests/conftest.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from backfill.bootstrap import ensure_topology
from backfill.domain.request import Request
from backfill.domain.tables import TableRef
from backfill.domain.window import Window
from backfill.local import stack as local_stack
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.local.seeding import seed
from backfill.ports import Read, Replace, Row, Warehouse
from backfill.processors.registry import Registry, load_registry
from backfill.settings import Settings
from google.cloud import pubsub_v1

REPO = Path(__file__).resolve().parent.parent
# Two weeks of November 2024 (about 100 games; every processor has rows on every date). The seed
# writes the 14 days before it too, the upcoming context's lookback.
SEED_WINDOW = Window(date(2024, 11, 1), date(2024, 11, 14))
REGISTRY: Registry = load_registry(None)
OFFENSE, DEFENSE = "team_offense_game_summary", "team_defense_game_summary"
PLAYERS, CONTEXT = "player_game_summary", "upcoming_team_game_context"


# -- settings and the CLI ---------------------------------------------------------------------

def unique_settings(warehouse: Path | str, **changes: Any) -> Settings:
    """Settings on `warehouse` with topics and subscriptions of their own, so tests share one
    emulator (the session's, when it runs: PUBSUB_EMULATOR_HOST)."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "warehouse": warehouse if str(warehouse).startswith("duckdb:") else f"duckdb://{warehouse}",
        "requests_topic": f"requests-{suffix}",
        "requests_subscription": f"runner-{suffix}",
        "push_subscription": f"push-{suffix}",
        "dead_letter_topic": f"dead-letter-{suffix}",
        "dead_letter_subscription": f"dead-letter-inspect-{suffix}",
        "retry_budget_seconds": 5.0,
        "pubsub_emulator_host": os.environ.get("PUBSUB_EMULATOR_HOST"),
    }
    values.update(changes)
    return Settings.load(values, environ={})


def environment(settings: Settings, **env: str) -> dict[str, str]:
    """A child process's environment: this one's, the settings', the repository on the path
    (tests.faults is importable), then `env` (an empty value unsets a setting)."""
    return {**os.environ, **settings.environment(),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "shared")]),
            "COLUMNS": "250", **env}


def backfill(settings: Settings, *args: str, timeout: float = 300,
             **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI (`python -m backfill.local`) in a subprocess, on `settings`."""
    return subprocess.run([sys.executable, "-m", "backfill.local", *args], capture_output=True,
                          text=True, env=environment(settings, **env), timeout=timeout,
                          check=False, cwd=REPO)


def start_backfill(settings: Settings, *args: str, log: Path | None = None,
                   **env: str) -> subprocess.Popen[str]:
    """The CLI left running (a worker, the stack), in a session of its own so `stop` ends it and
    whatever it started."""
    out = log.open("a") if log else subprocess.PIPE
    try:
        return subprocess.Popen([sys.executable, "-m", "backfill.local", *args],
                                env=environment(settings, **env), stdout=out,
                                stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True,
                                cwd=REPO, start_new_session=True)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def stop(process: subprocess.Popen[str]) -> int:
    """SIGTERM (then SIGKILL) a process started by `start_backfill`, and its children."""
    local_stack.stop_group(process)  # type: ignore[arg-type]
    return process.wait()


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


# -- Pub/Sub ----------------------------------------------------------------------------------

def pull_all(settings: Settings, subscription: str, *, ack: bool = True,
             wait_seconds: float = 3.0) -> list[Any]:
    """Every message currently on a subscription (acknowledged unless `ack=False`)."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(settings.project, subscription)
    received: list[Any] = []
    deadline = time.monotonic() + wait_seconds
    with subscriber:
        while time.monotonic() < deadline:
            response = subscriber.pull(subscription=path, max_messages=100, timeout=1.0)
            if not response.received_messages:
                if received:
                    break
                continue
            received += response.received_messages
            ids = [m.ack_id for m in response.received_messages]
            if ack:
                subscriber.acknowledge(subscription=path, ack_ids=ids)
            else:
                subscriber.modify_ack_deadline(subscription=path, ack_ids=ids,
                                               ack_deadline_seconds=0)
    return received


def push_body(request: Request, message_id: str = "1") -> bytes:
    """A push envelope as Pub/Sub posts it to the worker."""
    import base64

    return json.dumps({"message": {"data": base64.b64encode(request.encode()).decode(),
                                   "attributes": request.attributes(),
                                   "messageId": message_id}}).encode()


@contextmanager
def function_server(target: str, settings: Settings, **env: str) -> Iterator[str]:
    """functions-framework serving functions/<worker|detector>/main.py on `settings`."""
    with local_stack.function_server(target, {**settings.environment(), **env}) as url:
        yield url


def wait_for(condition: Callable[[], Any], seconds: float = 60, what: str = "") -> Any:
    """Poll until `condition()` is truthy; returns it."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting {what}"
        time.sleep(0.2)


# -- the warehouse ----------------------------------------------------------------------------

def table_of(name_or_table: str | TableRef, registry: Registry = REGISTRY) -> TableRef:
    if isinstance(name_or_table, TableRef):
        return name_or_table
    return registry.get(name_or_table).target


def rows(warehouse: Warehouse, table: str | TableRef, start: date,
         end: date | None = None) -> list[Row]:
    """Rows of a table (a processor's name means its target) on dates [start, end]."""
    return warehouse.read_rows(Read(table_of(table), start, end or start))


def canon(found: Iterable[Row]) -> list[str]:
    """Rows as sorted JSON lines: equal lists are equal multisets of equal rows."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in found)


def put(warehouse: Warehouse, processor: str, day: date, new_rows: list[Row],
        registry: Registry = REGISTRY) -> None:
    """Make `new_rows` a processor's only Phase 3 rows of `day`."""
    p = registry.get(processor)
    warehouse.write([Replace(p.target, day, day, new_rows, p.table_schema())])


def empty(warehouse: Warehouse, processor: str, *days: date) -> list[Row]:
    """Delete a processor's Phase 3 rows of some dates; returns what was deleted."""
    deleted = []
    for day in days:
        deleted += rows(warehouse, processor, day)
        put(warehouse, processor, day, [])
    return deleted


def drop_games(warehouse: Warehouse, processor: str, day: date, game_ids: set[str]) -> list[Row]:
    """Delete some games' Phase 3 rows of one date; returns the deleted rows."""
    found = rows(warehouse, processor, day)
    put(warehouse, processor, day, [r for r in found if r["game_id"] not in game_ids])
    return [r for r in found if r["game_id"] in game_ids]


def game_ids(warehouse: Warehouse, processor: str, day: date) -> list[str]:
    return sorted({r["game_id"] for r in rows(warehouse, processor, day)})


def sql(path: Path, statement: str) -> None:
    """Run one statement on a DuckDB warehouse file, under the warehouse's own file lock (what
    the adapter does not offer: dropping a table, as another program would)."""
    with open(f"{path}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with duckdb.connect(str(path)) as con:
            con.execute(statement)


# -- fixtures (imported by the tiers' conftest.py) ---------------------------------------------

@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, gap-free warehouse of SEED_WINDOW (and its lookback), seeded once."""
    path = tmp_path_factory.mktemp("template") / "seeded.duckdb"
    template = DuckDBWarehouse(path)
    seed(template, REGISTRY, SEED_WINDOW)
    template.close()  # checkpointed, so a plain copy of the file holds everything
    return path


@pytest.fixture
def warehouse_path(tmp_path: Path, seeded_template: Path) -> Path:
    """A fresh copy of the seeded warehouse, the test's own."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(seeded_template, path)
    return path


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[DuckDBWarehouse]:
    found = DuckDBWarehouse(warehouse_path)
    yield found
    found.close()


@pytest.fixture
def settings(warehouse_path: Path, pubsub_emulator: str) -> Settings:
    """Settings on the seeded copy with topics and pull subscriptions of the test's own."""
    made = unique_settings(warehouse_path)
    ensure_topology(made)
    return made
