"""The two HTTP functions' bodies; functions/*/main.py only name them. Errors become statuses here:
the caller's bad body is a 400, a misconfigured deployment a 500 (never the caller's fault)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import flask

from backfill.adapters.pubsub_push import decode_push
from backfill.bootstrap import Backfill, bootstrap
from backfill.domain.errors import (
    BackfillError,
    BadRequest,
    ConfigurationError,
    InvalidRequest,
    TransientError,
)
from backfill.domain.runs import Trigger
from backfill.domain.window import MAX_WINDOW_DAYS, Window, today_in
from backfill.entrypoints.logs import configure_function_logging, trace_of, traced
from backfill.ports import Delivery
from backfill.service import detect as detection
from backfill.service.runs import report_stalled
from backfill.service.work import Worker
from backfill.settings import Settings

log = logging.getLogger("backfill.http")

Response = tuple[str, int, dict[str, str]]
_DETECT_FIELDS = {"lookback_days", "start_date", "end_date", "max_messages", "processors",
                  "dry_run", "stalls_only"}


@functools.cache
def _app() -> Backfill:
    # Built on the first request, then reused by every request this instance serves.
    return bootstrap(Settings.load())


@functools.cache
def _worker() -> Worker:
    return _app().worker()


def _served(body: Callable[[flask.Request], Response]) -> Callable[[flask.Request], Response]:
    """A function's body, logging as Cloud Logging reads it, each line under the request's trace."""
    @functools.wraps(body)
    def serving(request: flask.Request) -> Response:
        configure_function_logging()
        try:
            project: str | None = _app().settings.project
        except BackfillError:
            project = None  # the body reports the misconfiguration itself
        trace = trace_of(request.headers.get("X-Cloud-Trace-Context"),
                         request.headers.get("traceparent"), project) if project else None
        with traced(trace):
            return body(request)
    return serving


@_served
def work(request: flask.Request) -> Response:
    """Pub/Sub push: 200 acknowledges (done, skipped, partial, cancelled or dead-lettered), 503
    asks for redelivery, 500 says the deployment is misconfigured."""
    if request.method != "POST":
        # Pub/Sub only POSTs; a GET is a person or a health check, not a message to dead-letter.
        return _json({"error": "the worker takes Pub/Sub push deliveries (POST)"}, 405)
    body = request.get_data(cache=False)
    try:
        delivery = decode_push(body)
    except InvalidRequest as exc:
        delivery = Delivery(body, problem=str(exc))
    try:
        result = _worker().handle(delivery)
    except TransientError as exc:
        # The dead letter could not be published: Pub/Sub's own dead-letter policy is the net.
        log.error("not acknowledged: %s", exc)
        return _json({"outcome": "retry", "error": str(exc)}, 503)
    except BackfillError as exc:
        # Every request answers so until the deployment is fixed: its own alert, not a dead letter.
        log.error("worker misconfigured: %s", exc, extra={"event": "worker_misconfigured"})
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
    return _json({"outcome": result.outcome.value, "error": result.error,
                  "rows_written": result.rows_written},
                 200 if result.outcome.acknowledged else 503)


@_served
def detect(request: flask.Request) -> Response:
    """Cloud Scheduler's calls. Body: {"lookback_days", "start_date", "end_date",
    "max_messages", "processors", "dry_run"}, all optional: a detection pass; or
    {"stalls_only": true}: only the check for stalled runs (the frequent, light call).

    A pass in which a processor failed answers 200 once anything may have been published (the
    failure is logged as `detection_failed`, which an alert counts): a 500 would make Cloud
    Scheduler retry, and the retry would publish every gap again under a new run. It answers
    500 only when nothing went out, so the retry is a clean second try.
    """
    if request.method != "POST":
        # Cloud Scheduler POSTs; a GET is a person or a health check, and must not publish.
        return _json({"error": "the detector takes Cloud Scheduler's call (POST)"}, 405)
    try:
        app = _app()
        options = _detect_options(request.get_data(cache=False), app)
    except BadRequest as exc:
        return _json({"error": str(exc)}, 400)
    except BackfillError as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
    if options["stalls_only"]:
        return _check_stalls(app)
    started_by = request.headers.get("X-CloudScheduler-JobName") or "http"
    try:
        report = detection.detect(
            app.warehouse, app.registry, app.ops, None if options["dry_run"] else app.queue,
            options["window"], processors=options["processors"],
            max_messages=options["max_messages"],
            run=detection.Pass(Trigger.SCHEDULED, started_by))
    except BackfillError as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
    if report.failed:
        failures = [f"{p.name}: {p.error or p.upstream_error}" for p in report.processors
                    if p.error or p.upstream_error]
        if report.publish_error:
            failures.append(f"publishing: {report.publish_error}")
        log.error("detection %s failed (%d published): %s", report.run_id,
                  len(report.published), "; ".join(failures),
                  extra={"event": "detection_failed", "run_id": report.run_id})
    return _json(report.as_dict(), 500 if report.failed and not report.may_have_published
                 else 200)


def _check_stalls(app: Backfill) -> Response:
    """Log each stalled run (event `run_stalled`, which an alert counts); publishes nothing, so
    a 500 here is safe for Cloud Scheduler to retry."""
    try:
        stalled = report_stalled(app.warehouse, app.ops, now=datetime.now(UTC),
                                 stall_after=timedelta(minutes=app.settings.run_stall_minutes))
    except BackfillError as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
    return _json({"stalled": stalled}, 200)


def _detect_options(body: bytes, app: Backfill) -> dict[str, Any]:
    try:
        options = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("body is not JSON") from None
    except RecursionError:  # json's own guard: nesting past the interpreter's recursion limit
        raise BadRequest("body is JSON nested too deeply") from None
    if not isinstance(options, dict):
        raise BadRequest("body must be a JSON object")
    unknown = set(options) - _DETECT_FIELDS
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}")
    if not isinstance(options.get("stalls_only", False), bool):
        raise BadRequest("stalls_only must be true or false")
    if options.get("stalls_only"):
        others = sorted(set(options) - {"stalls_only"})
        if others:
            raise BadRequest(f"stalls_only takes no other field (got {others[0]!r})")
        return {"stalls_only": True}
    if not isinstance(options.get("dry_run", False), bool):
        raise BadRequest("dry_run must be true or false")
    names = _names(options.get("processors"))
    try:
        app.registry.ordered(names)
    except ConfigurationError as exc:  # an unknown name: the caller's mistake
        raise BadRequest(str(exc)) from None
    return {"window": _window(options, app.settings),
            "max_messages": _count(options, "max_messages"), "processors": names,
            "dry_run": options.get("dry_run") is True, "stalls_only": False}


def _window(options: dict[str, Any], settings: Settings) -> Window:
    today = today_in(settings.timezone)
    if "start_date" in options or "end_date" in options:
        try:
            start, end = (date.fromisoformat(options[k]) for k in ("start_date", "end_date"))
        except (KeyError, TypeError, ValueError):
            raise BadRequest("start_date and end_date must both be YYYY-MM-DD") from None
        if start > end:
            raise BadRequest(f"start_date {start} is after end_date {end}")
        window = Window(start, end)
    else:
        lookback = _count(options, "lookback_days")
        if lookback is not None and lookback >= MAX_WINDOW_DAYS:
            raise BadRequest(f"lookback_days must be less than {MAX_WINDOW_DAYS} (ten seasons)")
        window = Window.lookback(settings.lookback_days if lookback is None else lookback, today)
    problem = window.problem(today)
    if problem:
        raise BadRequest(problem)
    return window


def _count(options: dict[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise BadRequest(f"{key} must be a whole number of 0 or more")
    return value


def _names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("processors must be a list of names")
    return value


def _json(payload: dict[str, Any], status: int) -> Response:
    return json.dumps(payload), status, {"Content-Type": "application/json"}
