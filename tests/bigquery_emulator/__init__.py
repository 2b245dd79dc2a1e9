"""The BigQuery API emulator (bqemulator, in .venv-bqemu) as a server tests start and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from backfill.local.stack import free_port

REPO = Path(__file__).resolve().parent.parent.parent
VENV = REPO / ".venv-bqemu"
START_SECONDS = 60.0


class BigQueryEmulator:
    """One ephemeral emulator (REST on a free loopback port) in a process group of its own."""

    def __init__(self) -> None:
        if not (VENV / ".installed").exists():
            raise RuntimeError(f"{VENV} is missing: `make bqemu-venv` (or `make test`) builds it")
        self.host = f"127.0.0.1:{free_port()}"
        self.log = tempfile.NamedTemporaryFile(prefix="bqemulator-", suffix=".log",  # noqa: SIM115
                                               delete=False)
        # HOME holds the spatial extension the Makefile installed: the emulator loads it from
        # there instead of downloading it. Avro is optional and would try the network.
        environment = {**os.environ, "HOME": str(VENV / "home"),
                       "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false", "BQEMU_LOG_LEVEL": "warning"}
        self.process = subprocess.Popen(
            [str(VENV / "bin" / "bqemulator"), "start", "--ephemeral", "--rest-host", "127.0.0.1",
             "--rest-port", self.host.rpartition(":")[2], "--grpc-port", "0"],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bqemulator did not start: {Path(self.log.name).read_text()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                    f"http://{self.host}/bigquery/v2/projects/ready/datasets", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
