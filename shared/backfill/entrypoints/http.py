"""The two HTTP functions' bodies; functions/*/main.py only name them. Errors become statuses here."""

from __future__ import annotations

import functools
import json
import logging
from datetime import date
from typing import Any

import flask

from backfill.bootstrap import (
    build_worker,
    queue_from_settings,
    registry_from_file,
    warehouse_from_url,
)
from backfill.domain.envelope import decode_push
from backfill.domain.errors import BackfillError, ConfigurationError, InvalidRequest, TransientError
from backfill.domain.window import Window, today_in
from backfill.entrypoints.logs import configure_function_logging
from backfill.service.detect import detect as detect_gaps
from backfill.service.work import Worker
from backfill.settings import Settings

log = logging.getLogger("backfill.http")

Response = tuple[str, int, dict[str, str]]


@functools.cache
def _settings() -> Settings:
    return Settings.load()


@functools.cache
def _worker() -> Worker:
    # Built on the first request, then reused by every request this instance serves.
    return build_worker(_settings())


def work(request: flask.Request) -> Response:
    """Pub/Sub push: 200 acknowledges (done, skipped or dead-lettered), 503 asks for redelivery."""
    configure_function_logging()
    if request.method != "POST":
        # Pub/Sub only POSTs; a GET is a person or a health check, not a message to dead-letter.
        return _json({"error": "the worker takes Pub/Sub push deliveries (POST)"}, 405)
    body = request.get_data(cache=False)
    worker = _worker()
    try:
        try:
            delivery = decode_push(body)
        except InvalidRequest as exc:
            result = worker.refuse_envelope(body, str(exc))
        else:
            result = worker.handle(delivery.data, delivery.attributes, delivery.delivery_attempt)
    except TransientError as exc:
        # The dead letter could not be published: Pub/Sub's own dead-letter policy is the net.
        log.error("not acknowledged: %s", exc)
        return _json({"outcome": "retry", "error": str(exc)}, 503)
    return _json({"outcome": result.outcome.value, "error": result.error,
                  "rows_written": result.rows_written},
                 200 if result.outcome.acknowledged else 503)


def detect(request: flask.Request) -> Response:
    """Cloud Scheduler's daily call. Body: {"lookback_days", "start_date", "end_date",
    "max_messages", "processors", "dry_run"}, all optional. 500 if any processor failed."""
    configure_function_logging()
    settings = _settings()
    try:
        options = _detect_options(request.get_data(cache=False), settings)
        registry = registry_from_file(settings.processors_file)
        registry.ordered(options["processors"])
        report = detect_gaps(warehouse_from_url(settings.warehouse), registry,
                             None if options["dry_run"] else queue_from_settings(settings),
                             options["window"], processors=options["processors"],
                             max_messages=options["max_messages"])
    except ConfigurationError as exc:
        return _json({"error": str(exc)}, 400)
    except BackfillError as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
    return _json(report.as_dict(), 500 if report.failed else 200)


def _detect_options(body: bytes, settings: Settings) -> dict[str, Any]:
    try:
        options = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigurationError("body is not JSON") from None
    if not isinstance(options, dict):
        raise ConfigurationError("body must be a JSON object")
    unknown = set(options) - {"lookback_days", "start_date", "end_date", "max_messages",
                              "processors", "dry_run"}
    if unknown:
        raise ConfigurationError(f"unknown field {sorted(unknown)[0]!r}")
    return {"window": _window(options, settings),
            "max_messages": _count(options, "max_messages"),
            "processors": _names(options.get("processors")),
            "dry_run": options.get("dry_run") is True}


def _window(options: dict[str, Any], settings: Settings) -> Window:
    if "start_date" in options or "end_date" in options:
        try:
            return Window(_date(options, "start_date"), _date(options, "end_date"))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("start_date and end_date must both be YYYY-MM-DD") from None
    lookback = _count(options, "lookback_days")
    return Window.lookback(30 if lookback is None else lookback, today_in(settings.timezone))


def _date(options: dict[str, Any], key: str) -> date:
    return date.fromisoformat(options[key])


def _count(options: dict[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ConfigurationError(f"{key} must be a whole number of 0 or more")
    return value


def _names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError("processors must be a list of names")
    return value


def _json(payload: dict[str, Any], status: int) -> Response:
    return json.dumps(payload), status, {"Content-Type": "application/json"}
