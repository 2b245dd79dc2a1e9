"""The DuckDB warehouse keeps its file open while busy, yet other processes still get their turn."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from backfill.bootstrap import registry_from_file
from backfill.local.duckdb_warehouse import DuckDBWarehouse

from tests.support import REPO

TARGET = registry_from_file(None).get("team_offense_game_summary").target
DAY = date(2024, 11, 5)


def lock_is_free(path: Path) -> bool:
    with open(f"{path}.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


def test_the_file_is_released_once_idle(warehouse_path: Path) -> None:
    warehouse = DuckDBWarehouse(warehouse_path, linger_seconds=0.2)
    assert warehouse.read_rows(TARGET, DAY, DAY)
    assert not lock_is_free(warehouse_path)  # kept for the next operation
    time.sleep(0.6)
    assert lock_is_free(warehouse_path)


def test_another_process_gets_the_file_while_this_one_stays_busy(warehouse_path: Path) -> None:
    warehouse = DuckDBWarehouse(warehouse_path, max_hold_seconds=0.3)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            warehouse.read_rows(TARGET, DAY, DAY)

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        other = subprocess.run(
            [sys.executable, "-c", "import sys; from datetime import date; "
             "from backfill.local.duckdb_warehouse import DuckDBWarehouse; "
             "from backfill.domain.tables import TableRef; "
             f"rows = DuckDBWarehouse(sys.argv[1]).read_rows(TableRef.parse('{TARGET}'), "
             f"date({DAY.year}, {DAY.month}, {DAY.day}), date({DAY.year}, {DAY.month}, {DAY.day})); "
             "print(len(rows))", str(warehouse_path)],
            capture_output=True, text=True, timeout=30, cwd=REPO, check=False)
        assert all(worker.is_alive() for worker in workers)  # still busy: the file was handed over
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert other.returncode == 0, other.stderr
    assert int(other.stdout) == len(warehouse.read_rows(TARGET, DAY, DAY)) > 0
