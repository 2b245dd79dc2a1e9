"""The local stack: the official Pub/Sub emulator, started only when none is configured.

`gcloud beta emulators pubsub start` runs the emulator as a Java child process, so it is started
in a process group of its own and the whole group is stopped: nothing is left listening.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from backfill.domain.errors import ConfigurationError
from backfill.settings import Settings

if TYPE_CHECKING:
    from backfill.adapters.pubsub_audit import AuditDrain
    from backfill.bootstrap import Backfill

log = logging.getLogger("backfill.stack")

EMULATOR_START_SECONDS = 90.0
# The stack publishes the audit trail as a deployed worker does, to this topic unless
# BACKFILL_AUDIT_TOPIC names another (Terraform's default name too).
STACK_AUDIT_TOPIC = "backfill-audit"
# An idle drain looks again after this long: audit rows land within a second or so, as they
# do through a BigQuery subscription.
AUDIT_IDLE_SECONDS = 0.5


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
        # Its log and data in one folder, removed when it stops cleanly, kept when it failed.
        self.folder = Path(tempfile.mkdtemp(prefix="pubsub-emulator-"))
        self.log = open(self.folder / "emulator.log", "wb")  # noqa: SIM115 - closed in stop()
        data_dir = self.folder / "data"
        data_dir.mkdir()
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
                self.stop(keep_log=True)
                raise ConfigurationError(f"the Pub/Sub emulator did not start; see {self.log.name}")
            time.sleep(0.2)

    def stop(self, keep_log: bool = False) -> None:
        died = self.process.poll() is not None
        stop_group(self.process)
        self.log.close()
        if not (keep_log or died):
            shutil.rmtree(self.folder, ignore_errors=True)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in a session of its own, and every child it started."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def pubsub_emulator(settings: Settings) -> Iterator[Settings]:
    """Yield settings on an emulator: the configured one, or one started for this block (the
    Google clients find it through PUBSUB_EMULATOR_HOST, set meanwhile)."""
    configured = settings.pubsub_emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST")
    if configured:
        os.environ.setdefault("PUBSUB_EMULATOR_HOST", configured)
        yield settings.model_copy(update={"pubsub_emulator_host": configured})
        return
    emulator = PubSubEmulator(settings.project)
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        yield settings.model_copy(update={"pubsub_emulator_host": emulator.host})
    finally:
        del os.environ["PUBSUB_EMULATOR_HOST"]
        emulator.stop()


FUNCTIONS = {"work": "worker", "detect": "detector"}
FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


@contextmanager
def function_server(target: str, environment: Mapping[str, str],
                    port: int | None = None, logs: Path | None = None) -> Iterator[str]:
    """functions-framework serving functions/<worker|detector>/main.py from this checkout, as
    Cloud Functions would; yields its URL and stops the server afterwards. Its log goes to
    `logs`/<worker|detector>.log, kept; without `logs`, to a file kept only if it failed."""
    source = FUNCTIONS_DIR / FUNCTIONS[target] / "main.py"
    if not source.exists():
        raise ConfigurationError(f"{source} not found: the local stack runs from a checkout")
    url = f"http://127.0.0.1:{port or free_port()}"
    log = (open(logs / f"{FUNCTIONS[target]}.log", "ab") if logs  # noqa: SIM115 - closed below
           else tempfile.NamedTemporaryFile(prefix=f"function-{target}-",  # noqa: SIM115
                                            suffix=".log", delete=False))
    started = False
    package_root = str(Path(__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", target, "--source", str(source),
         "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]],
        # Configured processors are imported by path: keep the caller's PYTHONPATH after ours.
        env={**os.environ, **environment, "PYTHONPATH": os.pathsep.join(filter(None, [
            package_root, environment.get("PYTHONPATH", os.environ.get("PYTHONPATH"))]))},
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigurationError(f"function {target} did not start; see {log.name}")
            time.sleep(0.2)
        started = True
        yield url
    finally:
        died = process.poll() is not None
        stop_group(process)
        log.close()
        if started and not died and not logs:  # a failed server keeps its log for the reader
            os.unlink(log.name)


def answers(url: str) -> bool:
    """True when something serves HTTP at `url`."""
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # answering, if only with an error status
    except OSError:
        return False
    return True


def drain_audit_once(app: Backfill, drain: AuditDrain, timeout: float = 1.0) -> int:
    """Move what the audit subscription holds into the warehouse's backfill_log, then
    acknowledge it (what the BigQuery subscription does in production); the rows moved."""
    from backfill.service.ledger import append, log_rows

    pulled = drain.pull(timeout=timeout)
    if pulled.rows:
        append(app.warehouse, [log_rows(app.ops, pulled.rows)])
        drain.acknowledge(pulled.ack_ids)
    return len(pulled.rows)


def drain_audit(app: Backfill, drain: AuditDrain, stop: threading.Event) -> None:
    """The stack's stand-in for the audit topic's BigQuery subscription, until `stop` is set.
    Rows not appended are not acknowledged: the subscription delivers them again."""
    while not stop.is_set():
        try:
            if not drain_audit_once(app, drain):
                stop.wait(AUDIT_IDLE_SECONDS)  # the emulator may answer an empty pull at once
        except Exception as exc:  # noqa: BLE001 - the loop outlives a busy or missing warehouse
            log.warning("audit rows not drained yet: %s: %s", type(exc).__name__, exc)
            stop.wait(1.0)


def serve_stack(settings: Settings, worker_port: int, detector_port: int,
                say: Callable[[str], None], *, logs: Path | None = None,
                trigger: Mapping[str, object] | None = None) -> None:
    """The local topology in the foreground until interrupted: the emulator (unless configured),
    both functions under functions-framework, the push subscription to the worker (retry and
    dead-letter policies, the backoff from settings), the dead-letter pull subscription, and the
    audit topic, which the worker publishes to and a pull loop here drains into the warehouse.
    The functions' logs are kept in `logs` (a new folder when None); the printed trigger sends
    `trigger` as the detector's body."""
    from backfill.bootstrap import audit_drain, bootstrap, ensure_topology

    settings = settings.model_copy(
        update={"audit_topic": settings.audit_topic or STACK_AUDIT_TOPIC})
    logs = logs or Path(tempfile.mkdtemp(prefix="backfill-stack-"))
    logs.mkdir(parents=True, exist_ok=True)
    body = json.dumps(dict(trigger or {"lookback_days": settings.lookback_days}))
    with pubsub_emulator(settings) as settings:
        environment = settings.environment()
        with function_server("work", environment, worker_port, logs) as worker_url, \
                function_server("detect", environment, detector_port, logs) as detector_url:
            ensure_topology(settings, push_endpoint=worker_url)
            app = bootstrap(settings)
            drain, stop = audit_drain(settings), threading.Event()
            draining = threading.Thread(target=drain_audit, args=(app, drain, stop),
                                        name="audit-drain", daemon=True)
            draining.start()
            say(f"export PUBSUB_EMULATOR_HOST={settings.pubsub_emulator_host} "
                f"BACKFILL_WAREHOUSE={settings.warehouse}")
            say(f"worker   {worker_url}  <- push subscription {settings.push_subscription} "
                f"(redelivery backoff {settings.push_min_backoff_seconds}-"
                f"{settings.push_max_backoff_seconds} s)")
            say(f"detector {detector_url}  try: curl -X POST {detector_url} -d '{body}'")
            say(f"audit    topic {settings.audit_topic} -> {settings.audit_subscription} "
                "-> backfill_log (drained here, as a BigQuery subscription would)")
            say(f"logs     {logs}/worker.log, {logs}/detector.log (kept)")
            say("Ctrl-C stops everything this started.")
            # Wait for Ctrl-C or SIGTERM alike, then leave the blocks above: they stop it all.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
            finally:
                stop.set()
                draining.join(timeout=10)
                drain.close()
                app.close()
