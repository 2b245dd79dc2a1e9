"""A recording HTTP proxy in front of the emulator: every request the real client sends, as sent.

The emulator keeps only the query text of a job's configuration (it drops `labels`,
`maximumBytesBilled` and `jobTimeoutMs`, which real BigQuery stores and reports back), so what a
job carried is read here, from the body the client put on the wire: exactly what BigQuery would
receive. Each exchange is kept with its start and end on this process's monotonic clock, so a
test can tell which calls overlapped (ran at once) and which waited for one another.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from backfill.local.stack import free_port

# Headers that describe one hop, not the message: never forwarded.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host",
                  "proxy-connection", "te", "trailer", "upgrade"})


@dataclass(frozen=True)
class Exchange:
    """One request the client sent and when it was answered."""

    method: str
    path: str  # without the query string
    body: Any  # the JSON body sent, None for none
    status: int
    start: float
    end: float

    @property
    def kind(self) -> str:
        """What the call is, in the API's own method names."""
        return kind_of(self.method, self.path)

    @property
    def job_id(self) -> str | None:
        """The job a jobs.* call is about."""
        if self.kind == "jobs.insert":
            return str(self.body["jobReference"]["jobId"])
        if self.kind in ("jobs.get", "jobs.getQueryResults", "jobs.cancel"):
            return self.path.removeprefix("/bigquery/v2/").split("/")[3]
        return None


def kind_of(method: str, path: str) -> str:
    """The API method a request calls (jobs.insert, tables.get, tabledata.insertAll, ...)."""
    parts = urlsplit(path).path.removeprefix("/bigquery/v2/").split("/")
    if parts[-1] == "insertAll":
        return "tabledata.insertAll"
    if method == "POST" and parts[-1] == "jobs":
        return "jobs.insert"
    if method == "POST" and parts[-1] == "cancel":
        return "jobs.cancel"
    if len(parts) == 4 and parts[2] == "queries":
        return "jobs.getQueryResults"
    if len(parts) == 4 and parts[2] == "jobs":
        return "jobs.get"
    if parts[-1] == "data":
        return "tabledata.list"
    if len(parts) >= 3 and parts[2] == "datasets":
        resource = "tables" if len(parts) >= 5 else "datasets"
        verb = {"GET": "get", "POST": "insert", "PATCH": "patch", "PUT": "update",
                "DELETE": "delete"}.get(method, method)
        if len(parts) in (3, 5) and method == "GET":
            verb = "list"
        return f"{resource}.{verb}"
    return f"{method} {path}"


@dataclass
class Recorder:
    """The proxy's listening address and everything that went through it, in arrival order.

    `delays` holds back requests of a kind (say jobs.getQueryResults) that many seconds before
    passing them on: a slow BigQuery on cue, which the emulator itself cannot be. `hooks` are a
    test harness's workarounds for what the emulator does otherwise than BigQuery: a hook of a
    kind is called with the request's path and JSON body before it is passed on, and what it
    returns is called once the emulator has answered it with success, before the client has
    the answer.
    """

    upstream: str
    host: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    hooks: dict[str, Callable[[str, Any], Callable[[], None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def since(self, mark: float) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.start >= mark]

    def query_jobs(self, mark: float = 0.0) -> list[dict[str, Any]]:
        """The configuration of every job inserted since `mark` (monotonic), as sent."""
        return [e.body["configuration"] for e in self.since(mark) if e.kind == "jobs.insert"]


@contextmanager
def recording(upstream: str) -> Iterator[Recorder]:
    """A proxy to the emulator at `upstream` (host:port) for the duration of the block."""
    recorder = Recorder(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(recorder))
    server.daemon_threads = True
    recorder.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="bq-recorder", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    upstream_host, _, upstream_port = recorder.upstream.rpartition(":")
    local = threading.local()

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each small write waits on a delayed ACK (40 ms)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass

        def _forward(self) -> None:
            start = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            kind = kind_of(self.command, self.path)
            held = recorder.delays.get(kind, 0.0)
            if held:
                time.sleep(held)
            hook = recorder.hooks.get(kind)
            answered = hook(urlsplit(self.path).path, json.loads(body) if body.strip() else None) \
                if hook else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection(
                    upstream_host, int(upstream_port), timeout=120)
            try:
                connection.request(self.command, self.path, body or None, headers)
                answer = connection.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                local.connection = None
                raise
            if answered is not None and answer.status < 300:
                answered()
            # Recorded before the answer is relayed: a client that has its answer must find the
            # exchange recorded (a test reads the record as soon as the call returns).
            recorder.record(Exchange(
                self.command, urlsplit(self.path).path,
                json.loads(body) if body.strip() else None, answer.status, start,
                time.monotonic()))
            try:
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:  # the client gave up waiting (a held request): it still happened
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Forward
