"""The local stack: the official Pub/Sub emulator, started only when none is configured.

`gcloud beta emulators pubsub start` runs the emulator as a Java child process, so it is started
in a process group of its own and the whole group is stopped: nothing is left listening.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from backfill.domain.errors import ConfigurationError

EMULATOR_START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class PubSubEmulator:
    """One emulator process group on a free loopback port."""

    def __init__(self, project: str, port: int | None = None) -> None:
        self.host = f"127.0.0.1:{port or free_port()}"
        self.log = tempfile.NamedTemporaryFile(prefix="pubsub-emulator-", suffix=".log",  # noqa: SIM115
                                               delete=False)
        data_dir = tempfile.mkdtemp(prefix="pubsub-emulator-")
        try:
            self.process = subprocess.Popen(
                ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={self.host}",
                 f"--project={project}", f"--data-dir={data_dir}", "--quiet"],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        except FileNotFoundError:
            raise ConfigurationError("the Pub/Sub emulator needs the Google Cloud CLI (gcloud) "
                                     "with its pubsub-emulator component and Java") from None
        deadline = time.monotonic() + EMULATOR_START_SECONDS
        while not emulator_ready(self.host):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"the Pub/Sub emulator did not start; see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()


@contextmanager
def pubsub_emulator(project: str) -> Iterator[str]:
    """Yield the emulator's host:port: the configured one, or one started for this block."""
    configured = os.environ.get("PUBSUB_EMULATOR_HOST")
    if configured:
        yield configured
        return
    emulator = PubSubEmulator(project)
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator.host
    finally:
        del os.environ["PUBSUB_EMULATOR_HOST"]
        emulator.stop()
