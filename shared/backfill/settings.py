"""Every setting, written down once: its type, default, environment variable and description.

Precedence: a command-line flag, then the environment, then the default. The README's settings
table is generated from this model (`python -m backfill.settings`, checked by a test), the CLI's
help reads its descriptions, and Terraform's variables that set the same thing say the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backfill.domain.errors import ConfigurationError
from backfill.domain.tables import identifier
from backfill.domain.window import DEFAULT_TIMEZONE, today_in

DEFAULT_WAREHOUSE = "duckdb://backfill.duckdb"


def _setting(default: Any, env: str, description: str, **bounds: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"env": env}, **bounds)


class Settings(BaseModel):
    """What a command or a function needs to find its warehouse, queue and processors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warehouse: str = _setting(
        DEFAULT_WAREHOUSE, "BACKFILL_WAREHOUSE",
        "Where Phase 2 is read and Phase 3 written: duckdb:///abs/path.duckdb, "
        "duckdb://relative.duckdb or bigquery://PROJECT_ID.")
    timezone: str = _setting(
        DEFAULT_TIMEZONE, "BACKFILL_TIMEZONE",
        "Time zone in which \"today\" is computed (game dates are US Eastern).")
    project: str = _setting("backfill-local", "GOOGLE_CLOUD_PROJECT",
                            "Google Cloud project of the Pub/Sub topics.")
    raw_dataset: str = _setting("nba_raw", "BACKFILL_RAW_DATASET",
                                "Dataset of the Phase 2 tables the built-in processors read.")
    analytics_dataset: str = _setting(
        "nba_analytics", "BACKFILL_ANALYTICS_DATASET",
        "Dataset of the Phase 3 tables the built-in processors write.")
    audit_dataset: str = _setting(
        "backfill_ops", "BACKFILL_AUDIT_DATASET",
        "Dataset of Backfill's own tables: backfill_log, quarantine, backfill_runs.")
    requests_topic: str = _setting("backfill-requests", "BACKFILL_REQUESTS_TOPIC",
                                   "Topic requests are published to.")
    requests_subscription: str = _setting(
        "backfill-requests-runner", "BACKFILL_REQUESTS_SUBSCRIPTION",
        "Pull subscription `backfill run` and `backfill worker` work from.")
    push_subscription: str = _setting(
        "backfill-requests-push", "BACKFILL_PUSH_SUBSCRIPTION",
        "Push subscription feeding the worker function (`backfill stack`, Terraform).")
    dead_letter_topic: str = _setting("backfill-dead-letter", "BACKFILL_DEAD_LETTER_TOPIC",
                                      "Topic dead letters are published to.")
    dead_letter_subscription: str = _setting(
        "backfill-dead-letter-inspect", "BACKFILL_DEAD_LETTER_SUBSCRIPTION",
        "Pull subscription where dead letters are kept for inspection and replay.")
    audit_topic: str | None = _setting(
        None, "BACKFILL_AUDIT_TOPIC",
        "Topic the worker publishes its audit rows to, which a BigQuery subscription writes "
        "into backfill_log; unset, the rows are appended to the warehouse directly.")
    audit_subscription: str = _setting(
        "backfill-audit-log", "BACKFILL_AUDIT_SUBSCRIPTION",
        "Subscription that writes the audit topic into backfill_log (a BigQuery subscription "
        "in Terraform; `backfill stack` pulls it into DuckDB).")
    processors_file: str | None = _setting(
        None, "BACKFILL_PROCESSORS_FILE",
        "TOML file adding processors or renaming source columns.")
    lookback_days: int = _setting(30, "BACKFILL_LOOKBACK_DAYS",
                                  "Dates before today a detection checks by default.", ge=0)
    retry_budget_seconds: float = _setting(
        480.0, "BACKFILL_RETRY_BUDGET_SECONDS",
        "The worker's whole retry budget per delivery; keep it a minute below the function "
        "timeout.", gt=0)
    max_delivery_attempts: int = _setting(
        60, "BACKFILL_MAX_DELIVERY_ATTEMPTS",
        "Deliveries before Pub/Sub dead-letters a message; the worker dead-letters a request "
        "waiting on a dependency itself on the last one.", ge=5, le=100)
    dependency_wait_seconds: float = _setting(
        7200.0, "BACKFILL_DEPENDENCY_WAIT_SECONDS",
        "How long a request waits for an upstream processor before it is dead-lettered with "
        "the reason.", gt=0)
    push_min_backoff_seconds: int = _setting(
        10, "BACKFILL_PUSH_MIN_BACKOFF_SECONDS",
        "Redelivery backoff of the push subscription `backfill stack` makes, lower bound "
        "(seconds; Terraform's default).", ge=0, le=600)
    push_max_backoff_seconds: int = _setting(
        600, "BACKFILL_PUSH_MAX_BACKOFF_SECONDS",
        "Redelivery backoff of the push subscription `backfill stack` makes, upper bound "
        "(seconds; Terraform's default).", ge=0, le=600)
    maximum_bytes_billed: int = _setting(
        10 * 1024 ** 3, "BACKFILL_MAXIMUM_BYTES_BILLED",
        "Bytes one BigQuery job may bill at most; a job that would bill more fails (BigQuery "
        "bills at least 10 MiB per table a query reads, and a delivery's re-check reads its "
        "tables in one query: at least 100 MiB).", ge=100 * 1024 ** 2)
    run_stall_minutes: float = _setting(
        60.0, "BACKFILL_RUN_STALL_MINUTES",
        "Minutes without any request of a run ending before the run is flagged as stalled.",
        gt=0)
    spool_dir: str | None = _setting(
        None, "BACKFILL_SPOOL_DIR",
        "Folder where the DuckDB warehouse writes the files it bulk-inserts from.")
    bigquery_emulator_host: str | None = _setting(
        None, "BIGQUERY_EMULATOR_HOST",
        "host:port of a BigQuery API emulator, for bigquery:// warehouses.")
    pubsub_emulator_host: str | None = _setting(
        None, "PUBSUB_EMULATOR_HOST",
        "host:port of the Pub/Sub emulator; unset means Google Cloud.")

    @field_validator("requests_topic", "requests_subscription", "push_subscription",
                     "dead_letter_topic", "dead_letter_subscription", "audit_topic",
                     "audit_subscription")
    @classmethod
    def _pubsub_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) < 3 or not value.replace("-", "_").replace(".", "_").isidentifier():
            raise ValueError("use at least 3 letters, digits, dashes, dots or underscores")
        return value

    @field_validator("raw_dataset", "analytics_dataset", "audit_dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        return identifier(value, "dataset name")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        today_in(value)
        return value

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """Flags (None means not given) override the environment, which overrides defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {name: environ[env] for name, env in ENVIRONMENT.items()
                                  if environ.get(env)}
        if "warehouse" not in values and environ.get("GOOGLE_CLOUD_PROJECT") and \
                environ.get("K_SERVICE"):
            # Deployed as a function without BACKFILL_WAREHOUSE: the project's own BigQuery.
            values["warehouse"] = f"bigquery://{environ['GOOGLE_CLOUD_PROJECT']}"
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else "settings"
            given = values.get(name)
            raise ConfigurationError(
                f"{ENVIRONMENT.get(name, name)}={given!r}: {error['msg']}") from None

    def environment(self) -> dict[str, str]:
        """The environment variables that give a child process (a function server) these
        settings."""
        return {ENVIRONMENT[name]: str(value) for name, value in self.model_dump().items()
                if value is not None}


ENVIRONMENT: dict[str, str] = {
    name: str((field.json_schema_extra or {})["env"])  # type: ignore[index]
    for name, field in Settings.model_fields.items()}


def description(name: str) -> str:
    return Settings.model_fields[name].description or ""


def settings_table() -> str:
    """The README's table of settings, generated from the model."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        lines.append(f"| `{ENVIRONMENT[name]}` | {default} | {field.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
