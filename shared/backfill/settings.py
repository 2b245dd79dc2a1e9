"""Every setting and its precedence, written down once: command-line flag, then environment, then default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from backfill.domain.errors import ConfigurationError
from backfill.domain.tables import identifier
from backfill.domain.window import DEFAULT_TIMEZONE

DEFAULT_WAREHOUSE = "duckdb://backfill.duckdb"


@dataclass(frozen=True)
class Settings:
    """What a command or a function needs to find its warehouse, queue and processors."""

    warehouse: str = DEFAULT_WAREHOUSE
    timezone: str = DEFAULT_TIMEZONE
    project: str = "backfill-local"
    requests_topic: str = "backfill-requests"
    # The pull subscription the local runner (`backfill run`) works from.
    requests_subscription: str = "backfill-requests-runner"
    # The push subscription feeding the worker function (`backfill stack`, Terraform).
    push_subscription: str = "backfill-requests-push"
    dead_letter_topic: str = "backfill-dead-letter"
    dead_letter_subscription: str = "backfill-dead-letter-inspect"
    processors_file: str | None = None
    audit_dataset: str = "backfill_ops"
    # The worker's whole retry budget; keep it below the function timeout (540 s by default).
    retry_budget_seconds: float = 480.0
    max_delivery_attempts: int = 5

    def __post_init__(self) -> None:
        for name in ("requests_topic", "requests_subscription", "push_subscription",
                     "dead_letter_topic", "dead_letter_subscription"):
            value = getattr(self, name)
            if len(value) < 3 or not value.replace("-", "_").replace(".", "_").isidentifier():
                raise ConfigurationError(f"invalid Pub/Sub name {value!r} for {name}")
        identifier(self.audit_dataset, "audit dataset")
        if self.retry_budget_seconds <= 0:
            raise ConfigurationError("retry budget must be positive")
        if self.max_delivery_attempts < 5 or self.max_delivery_attempts > 100:
            raise ConfigurationError("max delivery attempts must be 5..100 (Pub/Sub's bounds)")

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """Flags (None means not given) override the environment, which overrides defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(ENVIRONMENT[field.name])
            if raw:
                values[field.name] = _convert(field.name, raw)
        if "warehouse" not in values and environ.get("GOOGLE_CLOUD_PROJECT") and \
                environ.get("K_SERVICE"):
            # Deployed as a function without BACKFILL_WAREHOUSE: the project's own BigQuery.
            values["warehouse"] = f"bigquery://{environ['GOOGLE_CLOUD_PROJECT']}"
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """The environment variables that give a child process (a function server) these settings."""
        return {ENVIRONMENT[f.name]: str(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None}


ENVIRONMENT = {
    "warehouse": "BACKFILL_WAREHOUSE",
    "timezone": "BACKFILL_TIMEZONE",
    "project": "GOOGLE_CLOUD_PROJECT",
    "requests_topic": "BACKFILL_REQUESTS_TOPIC",
    "requests_subscription": "BACKFILL_REQUESTS_SUBSCRIPTION",
    "push_subscription": "BACKFILL_PUSH_SUBSCRIPTION",
    "dead_letter_topic": "BACKFILL_DEAD_LETTER_TOPIC",
    "dead_letter_subscription": "BACKFILL_DEAD_LETTER_SUBSCRIPTION",
    "processors_file": "BACKFILL_PROCESSORS_FILE",
    "audit_dataset": "BACKFILL_AUDIT_DATASET",
    "retry_budget_seconds": "BACKFILL_RETRY_BUDGET_SECONDS",
    "max_delivery_attempts": "BACKFILL_MAX_DELIVERY_ATTEMPTS",
}


def _convert(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "float":
            return float(raw)
        if kind == "int":
            return int(raw)
    except ValueError:
        raise ConfigurationError(f"{ENVIRONMENT[name]}={raw!r} is not a number") from None
    return raw
