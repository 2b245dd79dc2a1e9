"""The DuckDB warehouse keeps its file open while busy, yet other processes still get their
turn: the detector, workers and the CLI share one file by handing it over."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from backfill.local.duckdb_warehouse import DuckDBWarehouse

from tests.support import OFFENSE, REPO, rows

DAY = date(2024, 11, 5)


def lock_is_free(path: Path) -> bool:
    with open(f"{path}.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


def test_the_file_is_kept_for_the_next_operation_and_released_once_idle(
        warehouse_path: Path) -> None:
    warehouse = DuckDBWarehouse(warehouse_path, linger_seconds=0.2)
    assert rows(warehouse, OFFENSE, DAY)
    assert not lock_is_free(warehouse_path)  # kept for the next operation
    time.sleep(0.6)
    assert lock_is_free(warehouse_path)


def test_another_process_gets_the_file_while_this_one_stays_busy(warehouse_path: Path) -> None:
    warehouse = DuckDBWarehouse(warehouse_path, max_hold_seconds=0.3)
    stop = threading.Event()
    reads = [0]

    def busy() -> None:
        while not stop.is_set():
            rows(warehouse, OFFENSE, DAY)
            reads[0] += 1

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        other = subprocess.run(
            [sys.executable, "-c", "import sys; from datetime import date; "
             "from backfill.local.duckdb_warehouse import DuckDBWarehouse; "
             "from tests.support import OFFENSE, rows; "
             f"print(len(rows(DuckDBWarehouse(sys.argv[1]), OFFENSE, date({DAY:%Y, %-m, %-d}))))",
             str(warehouse_path)],
            capture_output=True, text=True, timeout=30, cwd=REPO, check=False)
        before = reads[0]
        time.sleep(0.2)
        # Still busy all along: the file was handed over, not given up.
        assert all(worker.is_alive() for worker in workers) and reads[0] > before
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert other.returncode == 0, other.stderr
    assert int(other.stdout) == len(rows(warehouse, OFFENSE, DAY)) > 0
    warehouse.close()
