"""Structural checks of terraform/: providers cannot be downloaded here, so the HCL is parsed
(python-hcl2) and the deployment's promises are asserted on it; fmt and checkov run for real."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.terraform.grants import (
    IAM_MEMBER_TYPES,
    all_grants,
    custom_role,
    custom_roles,
    grants_of,
    principal,
    refers_to,
)
from tests.terraform.hcl import REPO_ROOT, TF_DIR, Module, block, load_module

REQUESTS_TOPIC = "google_pubsub_topic.requests"
DEAD_LETTER_TOPIC = "google_pubsub_topic.dead_letter"
AUDIT_TOPIC = "google_pubsub_topic.audit"
AUDIT_DEAD_LETTER_TOPIC = "google_pubsub_topic.audit_dead_letter"
LABELLED = {
    "google_pubsub_topic": "labels",
    "google_pubsub_subscription": "labels",
    "google_cloudfunctions2_function": "labels",
    "google_storage_bucket": "labels",
    "google_bigquery_dataset": "labels",
    "google_bigquery_table": "labels",
    "google_monitoring_alert_policy": "user_labels",
    "google_monitoring_notification_channel": "user_labels",
}
RAW, ANALYTICS, AUDIT = "nba_raw", "nba_analytics", "backfill_ops"
SOURCE_TABLES = ["nbac_schedule", "nbac_team_boxscore", "nbac_gamebook_player_stats"]
TARGET_TABLES = [
    "team_offense_game_summary",
    "team_defense_game_summary",
    "player_game_summary",
    "upcoming_team_game_context",
]
VIEWER, EDITOR = "roles/bigquery.dataViewer", "roles/bigquery.dataEditor"
PHASE3_WRITER, OPS_WRITER = custom_role("backfillPhase3Writer"), custom_role("backfillOpsWriter")
# Who may do what, on what: (target, role). Targets are "dataset.table" for BigQuery tables,
# Terraform addresses for the rest, or "project".
EXPECTED_GRANTS = {
    "detector": {
        ("project", "roles/bigquery.jobUser"),
        *((f"{RAW}.{t}", VIEWER) for t in SOURCE_TABLES),
        *((f"{ANALYTICS}.{t}", VIEWER) for t in TARGET_TABLES),
        (AUDIT, OPS_WRITER),
        (REQUESTS_TOPIC, "roles/pubsub.publisher"),
    },
    "worker": {
        ("project", "roles/bigquery.jobUser"),
        *((f"{RAW}.{t}", VIEWER) for t in SOURCE_TABLES),
        *((f"{ANALYTICS}.{t}", PHASE3_WRITER) for t in TARGET_TABLES),
        (AUDIT, OPS_WRITER),
        (DEAD_LETTER_TOPIC, "roles/pubsub.publisher"),
        (AUDIT_TOPIC, "roles/pubsub.publisher"),
        (REQUESTS_TOPIC, "roles/pubsub.publisher"),  # the next links of a chain
    },
    "push": {("google_cloudfunctions2_function.worker", "roles/run.invoker")},
    "scheduler": {("google_cloudfunctions2_function.detector", "roles/run.invoker")},
    "pubsub_agent": {
        (DEAD_LETTER_TOPIC, "roles/pubsub.publisher"),
        ("google_pubsub_subscription.requests_push", "roles/pubsub.subscriber"),
        ("google_service_account.push", "roles/iam.serviceAccountTokenCreator"),
        # The audit topic's BigQuery subscription: writes the table, forwards refused rows.
        (f"{AUDIT}.backfill_log", EDITOR),
        (AUDIT_DEAD_LETTER_TOPIC, "roles/pubsub.publisher"),
        ("google_pubsub_subscription.audit_bigquery", "roles/pubsub.subscriber"),
    },
    "builder": {
        ("project", "roles/logging.logWriter"),
        ("project", "roles/artifactregistry.writer"),
        ("project", "roles/storage.objectViewer"),
    },
}


@pytest.fixture(scope="module")
def tf() -> Module:
    return load_module()


def seconds(value: object) -> int:
    match = re.fullmatch(r"(\d+)s", str(value))
    assert match, f"not a duration in seconds: {value!r}"
    return int(match.group(1))


def duration(tf: Module, expression: str) -> int:
    """Resolve "${var.x}s" (or "600s") to seconds using the variables' defaults."""
    match = re.fullmatch(r"\$\{var\.(\w+)\}s", expression)
    if match:
        return int(tf.variables[match.group(1)]["default"])
    return seconds(expression)


# --- Interface ------------------------------------------------------------------------------


def test_google_provider_is_pinned_to_one_major_version(tf: Module) -> None:
    providers = {}
    for settings in tf.terraform:
        for required in settings.get("required_providers", []):
            providers.update(required)
    constraint = providers["google"]["version"]
    # "~> 7.0" admits 7.x only; "~> 7" or ">= 6.0, < 8.0" would admit a new major on init.
    match = re.fullmatch(r"~>\s*(\d+)\.(\d+)", constraint.strip())
    assert match, f"pin one major version with ~> MAJOR.MINOR, not {constraint!r}"
    assert int(match.group(1)) >= 6, constraint
    versions = [s["required_version"] for s in tf.terraform if "required_version" in s]
    assert versions == [">= 1.9"], versions


def test_every_variable_has_a_description_and_numbers_are_validated(tf: Module) -> None:
    for name, variable in tf.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert "type" in variable, f"variable {name} has no type"
        if variable.get("type") == "${number}" or variable.get("type") == "number":
            assert variable.get("validation"), f"numeric variable {name} has no validation"


def test_outputs_cover_urls_topics_subscriptions_and_accounts(tf: Module) -> None:
    expected = {
        "detector_url",
        "worker_url",
        "requests_topic_id",
        "dead_letter_topic_id",
        "requests_subscription_id",
        "dead_letter_subscription_id",
        "audit_topic_id",
        "audit_dead_letter_subscription_id",
        "service_accounts",
    }
    assert expected <= set(tf.outputs)
    for name, output in tf.outputs.items():
        assert output.get("description"), f"output {name} has no description"


def test_example_tfvars_only_sets_declared_variables(tf: Module) -> None:
    text = (TF_DIR / "terraform.tfvars.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^([a-z_][a-z0-9_]*)\s*=", text, flags=re.M))
    assert "project_id" in assigned
    assert assigned <= set(tf.variables), assigned - set(tf.variables)


def test_every_reference_is_declared(tf: Module) -> None:
    text = "\n".join(tf.text.values())
    declared_resources = {f"{t}.{n}" for t, n in tf.resources}
    declared_data = {f"data.{t}.{n}" for t, n in tf.data}
    for name in set(re.findall(r"\bvar\.(\w+)", text)):
        assert name in tf.variables, f"var.{name} is not declared"
    for name in set(re.findall(r"\blocal\.(\w+)", text)):
        assert name in tf.locals, f"local.{name} is not declared"
    for address in set(re.findall(r"(?<![\w.])(google_\w+\.\w+)\.", text)):
        assert address in declared_resources, f"{address} is not declared"
    for address in set(re.findall(r"\b(data\.google_\w+\.\w+)", text)):
        assert address in declared_data, f"{address} is not declared"


# --- Pub/Sub --------------------------------------------------------------------------------


def test_topic_and_subscription_names_follow_the_design(tf: Module) -> None:
    topics = tf.of_type("google_pubsub_topic")
    assert tf.resolve(topics["requests"]["name"]) == "backfill-requests"
    assert tf.resolve(topics["dead_letter"]["name"]) == "backfill-dead-letter"
    subscriptions = tf.of_type("google_pubsub_subscription")
    # Distinct from the local runner's pull subscription (backfill-requests-runner).
    assert tf.resolve(subscriptions["requests_push"]["name"]) == "backfill-requests-push"
    assert tf.resolve(subscriptions["dead_letter_pull"]["name"]) == "backfill-dead-letter-inspect"
    assert tf.resolve(topics["audit"]["name"]) == "backfill-audit"
    assert tf.resolve(subscriptions["audit_bigquery"]["name"]) == "backfill-audit-log"
    for name in (*topics.values(), *subscriptions.values()):
        assert len(tf.resolve(name["name"])) >= 3


def test_every_subscription_on_the_requests_topic_dead_letters_and_retries(tf: Module) -> None:
    on_requests = {
        name: sub
        for name, sub in tf.of_type("google_pubsub_subscription").items()
        if refers_to(sub["topic"], REQUESTS_TOPIC)
    }
    assert on_requests, "no subscription on the requests topic"
    for name, sub in on_requests.items():
        dead_letter = block(sub, "dead_letter_policy")
        assert refers_to(dead_letter["dead_letter_topic"], DEAD_LETTER_TOPIC), name
        # Overload 429s count as attempts: the limit is high, the worker dead-letters itself.
        assert dead_letter["max_delivery_attempts"] == "${var.max_delivery_attempts}", name
        assert tf.resolve(dead_letter["max_delivery_attempts"]) == 60, name
        retry = block(sub, "retry_policy")
        assert duration(tf, retry["minimum_backoff"]) == 10, name
        assert duration(tf, retry["maximum_backoff"]) == 600, name
        assert block(sub, "expiration_policy")["ttl"] == "", f"{name} would expire when idle"


def test_push_subscription_calls_the_worker_with_oidc(tf: Module) -> None:
    push = block(tf.of_type("google_pubsub_subscription")["requests_push"], "push_config")
    assert refers_to(push["push_endpoint"], "google_cloudfunctions2_function.worker")
    token = block(push, "oidc_token")
    assert refers_to(token["service_account_email"], "google_service_account.push")
    assert refers_to(token["audience"], "google_cloudfunctions2_function.worker")


def test_ack_deadline_covers_the_worker_timeout(tf: Module) -> None:
    sub = tf.of_type("google_pubsub_subscription")["requests_push"]
    worker = tf.of_type("google_cloudfunctions2_function")["worker"]
    ack_deadline = tf.resolve(sub["ack_deadline_seconds"])
    timeout = tf.resolve(block(worker, "service_config")["timeout_seconds"])
    assert isinstance(ack_deadline, int) and isinstance(timeout, int)
    assert ack_deadline >= timeout
    assert ack_deadline <= 600  # Pub/Sub's maximum
    # The same rule is enforced at plan time, whatever values a user picks.
    rules = tf.variables["push_ack_deadline_seconds"]["validation"]
    assert any("var.worker_timeout_seconds" in rule["condition"] for rule in rules)


def test_requests_survive_a_weekend_outage(tf: Module) -> None:
    sub = tf.of_type("google_pubsub_subscription")["requests_push"]
    assert duration(tf, sub["message_retention_duration"]) >= 3 * 24 * 3600


def test_dead_letters_are_kept_a_week_for_inspection(tf: Module) -> None:
    subs = tf.of_type("google_pubsub_subscription")
    on_dead_letter = [s for s in subs.values() if refers_to(s["topic"], DEAD_LETTER_TOPIC)]
    assert len(on_dead_letter) == 1
    inspect = on_dead_letter[0]
    assert "push_config" not in inspect, "the dead-letter subscription must be a pull subscription"
    assert duration(tf, inspect["message_retention_duration"]) == 7 * 24 * 3600


# --- Functions ------------------------------------------------------------------------------


def test_functions_are_gen2_python311_scaling_to_zero(tf: Module) -> None:
    functions = tf.of_type("google_cloudfunctions2_function")
    assert set(functions) == {"detector", "worker"}
    entry_points = {"detector": "detect", "worker": "work"}
    accounts = set()
    for name, function in functions.items():
        build = block(function, "build_config")
        # The Python the tests run on (pyproject's target-version, requirements.lock).
        assert build["runtime"] == "python311", name
        assert build["entry_point"] == entry_points[name]
        source = block(block(build, "source"), "storage_source")
        assert refers_to(source["object"], "google_storage_bucket_object.source")
        service = block(function, "service_config")
        assert service["min_instance_count"] == 0, name
        assert str(service["max_instance_count"]).startswith("${var."), name
        assert str(service["max_instance_request_concurrency"]).startswith("${var."), name
        assert tf.resolve(service["ingress_settings"]) == "ALLOW_INTERNAL_ONLY", name
        accounts.add(service["service_account_email"])
    assert len(accounts) == 2, "each function needs its own service account"
    worker = block(functions["worker"], "service_config")
    assert worker["ingress_settings"] == "ALLOW_INTERNAL_ONLY"  # never a variable
    assert refers_to(worker["max_instance_request_concurrency"], "var.worker_concurrency")


def test_source_objects_are_named_by_content_hash(tf: Module) -> None:
    objects = tf.of_type("google_storage_bucket_object")
    assert objects, "no source archive upload"
    for obj in objects.values():
        assert "filemd5(" in obj["name"] or "output_md5" in obj["name"]


def function_environment(tf: Module, name: str) -> dict[str, str]:
    """A function's environment: local.common_environment merged with its own local map."""
    function = tf.of_type("google_cloudfunctions2_function")[name]
    expression = block(function, "service_config")["environment_variables"]
    match = re.fullmatch(r"\$\{merge\(local\.common_environment, local\.(\w+)\)\}", expression)
    assert match, f"{name}: environment must be merge(local.common_environment, local.X): {expression}"
    return {**tf.locals["common_environment"], **tf.locals[match.group(1)]}


def test_functions_get_their_environment(tf: Module) -> None:
    common = tf.locals["common_environment"]
    for key in (
        "GOOGLE_CLOUD_PROJECT",
        "BACKFILL_WAREHOUSE",
        "BACKFILL_TIMEZONE",
        "BACKFILL_REQUESTS_TOPIC",
        "BACKFILL_DEAD_LETTER_TOPIC",
        "BACKFILL_AUDIT_DATASET",
    ):
        assert key in common, key
    assert common["BACKFILL_WAREHOUSE"] == "bigquery://${var.project_id}"
    # The code reads the pipeline's dataset names from here (they were hard-coded).
    assert common["BACKFILL_RAW_DATASET"] == "${local.raw_dataset_id}"
    assert common["BACKFILL_ANALYTICS_DATASET"] == "${local.analytics_dataset_id}"
    assert "var.raw_dataset_id" in tf.locals["raw_dataset_id"]
    assert common["BACKFILL_MAXIMUM_BYTES_BILLED"] == "${tostring(var.maximum_bytes_billed)}"
    assert tf.variables["maximum_bytes_billed"]["default"] == 10 * 2**30
    assert "var.analytics_dataset_id" in tf.locals["analytics_dataset_id"]
    env = function_environment(tf, "worker")
    assert env["BACKFILL_MAX_DELIVERY_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert "BACKFILL_RETRY_BUDGET_SECONDS" in env
    assert env["BACKFILL_DEPENDENCY_WAIT_SECONDS"] == "${tostring(var.dependency_wait_seconds)}"
    # The deployed worker publishes its audit rows (the detector records no audit rows).
    assert env["BACKFILL_AUDIT_TOPIC"] == f"${{{AUDIT_TOPIC}.name}}"
    assert "BACKFILL_AUDIT_TOPIC" not in function_environment(tf, "detector")
    assert tf.variables["dependency_wait_seconds"]["default"] == 7200
    # The retry budget is derived from the timeout and stays below it.
    budget = tf.locals["worker_retry_budget_seconds"]
    match = re.fullmatch(r"\$\{var\.worker_timeout_seconds - (\d+)\}", budget)
    assert match and int(match.group(1)) > 0, budget
    rules = tf.variables["worker_timeout_seconds"]["validation"]
    assert any(f">= {2 * int(match.group(1))}" in r["condition"] for r in rules), (
        "the timeout's lower bound must leave a positive retry budget"
    )


@pytest.mark.parametrize("name", ["detector", "worker"])
def test_gunicorn_threads_equal_the_request_concurrency(tf: Module, name: str) -> None:
    function = tf.of_type("google_cloudfunctions2_function")[name]
    concurrency = block(function, "service_config")["max_instance_request_concurrency"]
    match = re.fullmatch(r"\$\{(var\.\w+)\}", concurrency)
    assert match, concurrency
    assert function_environment(tf, name)["THREADS"] == f"${{tostring({match.group(1)})}}"


def test_runtime_is_the_python_the_tests_run_on(tf: Module) -> None:
    here = f"python{sys.version_info.major}{sys.version_info.minor}"
    for name, function in tf.of_type("google_cloudfunctions2_function").items():
        assert block(function, "build_config")["runtime"] == here, (name, "tests run on", here)


# --- Scheduler ------------------------------------------------------------------------------


def test_scheduler_calls_the_detector_daily_with_oidc(tf: Module) -> None:
    jobs = tf.of_type("google_cloud_scheduler_job")
    assert set(jobs) == {"detector", "stall_check"}
    job = jobs["detector"]
    assert tf.resolve(job["schedule"]) == "0 2 * * *"
    assert tf.resolve(job["time_zone"]) == "America/Los_Angeles"
    assert block(job, "retry_config")
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert refers_to(target["uri"], "google_cloudfunctions2_function.detector")
    assert "lookback_days" in target["body"] and "max_messages" in target["body"]
    token = block(target, "oidc_token")
    assert refers_to(token["service_account_email"], "google_service_account.scheduler")
    assert refers_to(token["audience"], "google_cloudfunctions2_function.detector")
    assert "oauth_token" not in target


def test_stalls_are_checked_every_15_minutes_by_a_light_call(tf: Module) -> None:
    """Inside the daily call a stalled run was noticed up to a day late."""
    job = tf.of_type("google_cloud_scheduler_job")["stall_check"]
    assert tf.resolve(job["schedule"]) == "*/15 * * * *"
    target = block(job, "http_target")
    assert target["body"] == "${base64encode(jsonencode({stalls_only = true}))}"
    assert refers_to(target["uri"], "google_cloudfunctions2_function.detector")
    token = block(target, "oidc_token")
    assert refers_to(token["service_account_email"], "google_service_account.scheduler")
    assert block(job, "retry_config")["retry_count"] == 0  # the next call is 15 minutes away


# --- IAM ------------------------------------------------------------------------------------


def test_no_public_members_anywhere() -> None:
    for path in TF_DIR.glob("*.tf*"):
        text = path.read_text(encoding="utf-8")
        assert "allUsers" not in text and "allAuthenticatedUsers" not in text, path.name


def test_iam_is_additive_only(tf: Module) -> None:
    authoritative = [t for t, _ in tf.resources if t.endswith(("_iam_binding", "_iam_policy"))]
    assert not authoritative, f"authoritative IAM would remove others' grants: {authoritative}"


def test_each_service_account_has_exactly_its_roles(tf: Module) -> None:
    grants: dict[str, set[tuple[str, str]]] = {}
    for (rtype, _name), body in tf.resources.items():
        if rtype not in IAM_MEMBER_TYPES:
            assert "iam" not in rtype or rtype == "google_project_iam_custom_role", (
                f"unexpected IAM resource type {rtype}")
            continue
        grants.setdefault(principal(body["member"]), set()).update(grants_of(tf, rtype, body))
    assert grants == EXPECTED_GRANTS
    accounts = set(tf.of_type("google_service_account"))
    assert accounts == set(EXPECTED_GRANTS) - {"pubsub_agent"}


def test_custom_roles_carry_only_what_the_calls_need(tf: Module) -> None:
    # Table-level dataEditor would also carry tables.delete and tables.create; these never do.
    # (Which call needs which permission: tests/terraform/permissions.py.)
    assert custom_roles(tf) == {
        PHASE3_WRITER: {"bigquery.tables.get", "bigquery.tables.getData",
                        "bigquery.tables.update", "bigquery.tables.updateData"},
        OPS_WRITER: {"bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData",
                     "bigquery.tables.updateData"},
    }


def test_pipeline_datasets_get_no_dataset_level_grant(tf: Module) -> None:
    # Dataset IAM rewrites the access list without authorized views and fights the pipeline's
    # own dataset_access; only the tables Backfill touches are granted.
    pipeline = ("local.raw_dataset_id", "local.analytics_dataset_id", "var.raw_dataset_id",
                "var.analytics_dataset_id", "google_bigquery_dataset.pipeline")
    for rtype in ("google_bigquery_dataset_iam_member", "google_bigquery_dataset_iam_binding",
                  "google_bigquery_dataset_iam_policy", "google_bigquery_dataset_access"):
        for name, body in tf.of_type(rtype).items():
            dataset = str(body.get("dataset_id", ""))
            assert not any(refers_to(dataset, p) for p in pipeline), f"{rtype}.{name}"
    table_grants = tf.of_type("google_bigquery_table_iam_member")
    on_raw = [b for b in table_grants.values() if b["dataset_id"] == "${local.raw_dataset_id}"]
    on_analytics = [
        b for b in table_grants.values() if b["dataset_id"] == "${local.analytics_dataset_id}"
    ]
    assert len(on_raw) == 2 and len(on_analytics) == 2


def test_phase2_tables_are_read_only_and_phase3_written_by_the_worker_alone(tf: Module) -> None:
    grants = all_grants(tf)
    raw = [(who, role) for who, target, role in grants if target.startswith(f"{RAW}.")]
    assert raw and all(role == VIEWER for _, role in raw), raw
    assert {who for who, _ in raw} == {"detector", "worker"}
    analytics = [(who, t, role) for who, t, role in grants if t.startswith(f"{ANALYTICS}.")]
    writers = {who for who, _, role in analytics if role != VIEWER}
    assert writers == {"worker"}
    assert {t for _, t, _ in analytics} == {f"{ANALYTICS}.{t}" for t in TARGET_TABLES}


def test_earlier_dataset_grants_are_forgotten_not_destroyed(tf: Module) -> None:
    # Destroying a dataset IAM member rewrites the access list (dropping authorized views).
    kept = {
        block["from"]: block
        for block in tf.removed
        if "google_bigquery_dataset_iam_member" in block["from"]
    }
    assert set(kept) == {
        "${google_bigquery_dataset_iam_member.detector_reads_raw}",
        "${google_bigquery_dataset_iam_member.detector_reads_analytics}",
        "${google_bigquery_dataset_iam_member.worker_reads_raw}",
        "${google_bigquery_dataset_iam_member.worker_writes_analytics}",
    }
    for address, removed in kept.items():
        assert block(removed, "lifecycle")["destroy"] is False, address


def test_table_lists_default_to_the_processors_tables(tf: Module) -> None:
    from backfill.processors.nba_raw import SCHEDULE
    from backfill.processors.registry import load_registry

    processors = load_registry(None).ordered()
    sources = {p.source for p in processors} | {SCHEDULE}
    assert {t.dataset for t in sources} == {tf.variables["raw_dataset_id"]["default"]}
    assert sorted(tf.variables["source_tables"]["default"]) == sorted(t.table for t in sources)
    assert {p.target.dataset for p in processors} == {
        tf.variables["analytics_dataset_id"]["default"]
    }
    assert tf.variables["target_tables"]["default"] == [p.target.table for p in processors]
    assert tf.variables["source_tables"]["default"] == SOURCE_TABLES
    assert tf.variables["target_tables"]["default"] == TARGET_TABLES


def test_target_tables_are_created_partitioned_by_game_date(tf: Module) -> None:
    assert tf.variables["create_target_tables"]["default"] is True
    table = tf.of_type("google_bigquery_table")["target"]
    assert table["for_each"] == (
        "${var.create_target_tables ? toset(var.target_tables) : toset([])}"
    )
    assert table["dataset_id"] == "${local.analytics_dataset_id}"
    assert table["table_id"] == "${each.key}"
    partitioning = block(table, "time_partitioning")
    assert partitioning["type"] == "DAY" and partitioning["field"] == "game_date"
    # Phase 3 data is the pipeline's: no partition of it ever expires.
    assert "expiration_ms" not in partitioning
    assert table["clustering"] == ["game_id"]
    assert table["schema"] == '${file("${path.module}/schemas/${each.key}.json")}'
    assert table["deletion_protection"] == "${var.deletion_protection}"
    for name in tf.variables["target_tables"]["default"]:
        assert (TF_DIR / "schemas" / f"{name}.json").is_file(), f"no schema for {name}"


def test_builder_reads_only_source_buckets(tf: Module) -> None:
    grant = tf.of_type("google_project_iam_member")["builder_reads_sources"]
    assert "gcf-v2-sources-" in block(grant, "condition")["expression"]


# --- BigQuery, monitoring, labels -----------------------------------------------------------


AUDIT_SCHEMAS = {
    "backfill_log": [
        ("request_id", "STRING"),
        ("run_id", "STRING"),
        ("processor", "STRING"),
        ("game_date", "DATE"),
        ("reason", "STRING"),
        ("outcome", "STRING"),
        ("attempts", "INT64"),
        ("duration_ms", "INT64"),
        ("error", "STRING"),
        ("rows_written", "INT64"),
        ("games_written", "INT64"),
        ("games_refused", "INT64"),
        ("detail", "STRING"),
        ("worker", "STRING"),
        ("logged_at", "TIMESTAMP"),
        ("published_by_processor", "STRING"),  # added later: new columns come last
    ],
    "quarantine": [
        ("processor", "STRING"),
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("state", "STRING"),
        ("reason", "STRING"),
        ("source_processed_at", "TIMESTAMP"),  # retired, kept: BigQuery drops no column
        ("request_id", "STRING"),
        ("run_id", "STRING"),
        ("recorded_at", "TIMESTAMP"),
        ("inputs", "STRING"),
    ],
    "backfill_runs": [
        ("run_id", "STRING"),
        ("event", "STRING"),
        ("trigger", "STRING"),
        ("started_by", "STRING"),
        ("window_start", "DATE"),
        ("window_end", "DATE"),
        ("processors", "STRING"),
        ("found", "INT64"),
        ("published", "INT64"),
        ("deferred", "INT64"),
        ("published_by_processor", "STRING"),
        ("started_at", "TIMESTAMP"),
        ("recorded_at", "TIMESTAMP"),
    ],
}
# partition column, clustering, partitions expire after audit_retention_days?
AUDIT_LAYOUT = {
    "backfill_log": ("logged_at", ["processor", "game_date"], True),
    # By game date: an expiration would count from the game, deleting an old season's rows
    # as they are written.
    "quarantine": ("game_date", ["processor"], False),
    "backfill_runs": ("recorded_at", ["run_id"], True),
}


@pytest.mark.parametrize("name", sorted(AUDIT_SCHEMAS))
def test_audit_table_schema_partitioning_and_clustering(tf: Module, name: str) -> None:
    assert (
        tf.resolve(tf.of_type("google_bigquery_dataset")["audit"]["dataset_id"]) == "backfill_ops"
    )
    table = tf.of_type("google_bigquery_table")[name]
    assert table["table_id"] == name
    assert refers_to(table["dataset_id"], "google_bigquery_dataset.audit")
    assert tf.locals["audit_tables"][name] == f"${{google_bigquery_table.{name}}}"
    column, clustering, expires = AUDIT_LAYOUT[name]
    partitioning = block(table, "time_partitioning")
    assert partitioning["type"] == "DAY" and partitioning["field"] == column
    if expires:
        assert partitioning["expiration_ms"] == "${local.audit_retention_ms}"
        assert "var.audit_retention_days" in tf.locals["audit_retention_ms"]
    else:
        assert "expiration_ms" not in partitioning
    assert table["clustering"] == clustering
    assert [(c["name"], c["type"]) for c in table_schema(table)] == AUDIT_SCHEMAS[name]
    assert table["deletion_protection"] == "${var.deletion_protection}"


def table_schema(table: dict) -> list[dict]:
    """A table's columns, written inline (jsonencode) or in a file under terraform/schemas/."""
    if match := re.fullmatch(r'\$\{file\("\$\{path\.module\}/(schemas/\w+\.json)"\)\}',
                             table["schema"]):
        return json.loads((TF_DIR / match.group(1)).read_text(encoding="utf-8"))
    return [{"name": n, "type": t, "mode": m} for n, t, m in re.findall(
        r"name = \"(\w+)\", type = \"(\w+)\", mode = \"(\w+)\"", table["schema"])]


def test_audit_rows_reach_their_table_through_a_bigquery_subscription(tf: Module) -> None:
    subscription = tf.of_type("google_pubsub_subscription")["audit_bigquery"]
    assert refers_to(subscription["topic"], AUDIT_TOPIC)
    config = block(subscription, "bigquery_config")
    table = "google_bigquery_table.backfill_log"
    assert config["table"] == (f"${{{table}.project}}.${{{table}.dataset_id}}."
                               f"${{{table}.table_id}}")
    # The message's keys are the table's columns (test_audit_message.py holds the worker to
    # the schema file); no metadata columns, and a key the table lacks is refused, not dropped.
    assert config["use_table_schema"] is True
    assert config["write_metadata"] is False
    assert config["drop_unknown_fields"] is False
    assert "use_topic_schema" not in config
    # Refused rows: dead-lettered after a few attempts, kept a week in a pull subscription.
    dead_letter = block(subscription, "dead_letter_policy")
    assert refers_to(dead_letter["dead_letter_topic"], AUDIT_DEAD_LETTER_TOPIC)
    assert 5 <= tf.resolve(dead_letter["max_delivery_attempts"]) <= 100
    assert block(subscription, "expiration_policy")["ttl"] == ""
    keeping = [s for s in tf.of_type("google_pubsub_subscription").values()
               if refers_to(s["topic"], AUDIT_DEAD_LETTER_TOPIC)]
    assert len(keeping) == 1 and "push_config" not in keeping[0]
    assert duration(tf, keeping[0]["message_retention_duration"]) == 7 * 24 * 3600
    # The service agent may write the table and forward before the first message arrives.
    assert set(subscription["depends_on"]) == {
        "${google_bigquery_table_iam_member.pubsub_agent_writes_audit_log}",
        "${google_pubsub_topic_iam_member.pubsub_agent_audit_dead_letter_publisher}",
    }


def test_pipeline_datasets_are_referenced_not_created_by_default(tf: Module) -> None:
    assert tf.variables["create_pipeline_datasets"]["default"] is False
    assert tf.variables["raw_dataset_id"]["default"] == "nba_raw"
    assert tf.variables["analytics_dataset_id"]["default"] == "nba_analytics"
    assert (
        "var.create_pipeline_datasets"
        in tf.of_type("google_bigquery_dataset")["pipeline"]["for_each"]
    )


def clauses(expression: str) -> list[str]:
    """The clauses of a filter written as join(" AND ", ["a", "b", ...]), unescaped."""
    match = re.fullmatch(r'\$\{join\(" AND ", \[(.*)\]\)\}', expression, flags=re.S)
    assert match, f"filter is not a join of clauses: {expression}"
    return [c.replace('\\"', '"') for c in re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1))]


def condition(policy: dict) -> dict:
    return block(block(policy, "conditions"), "condition_threshold")


def log_match(policy: dict) -> dict:
    return block(block(policy, "conditions"), "condition_matched_log")


ALERTS = {
    "dead_letters",
    "dead_letters_forwarded",
    "quarantine",
    "requests_backlog",
    "detector_errors",
    "detection_failed",
    "worker_misconfigured",
    "scheduler_failed",
    "audit_write_failed",
    "audit_rows_refused",
    "run_stalled",
}


def test_every_alert_notifies_someone_unless_alerts_are_off(tf: Module) -> None:
    policies = tf.of_type("google_monitoring_alert_policy")
    assert set(policies) == ALERTS
    assert tf.locals["alert_policies"] == "${var.alerts_enabled ? 1 : 0}"
    assert tf.variables["alerts_enabled"]["default"] is True
    for name, policy in policies.items():
        assert policy["count"] == "${local.alert_policies}", name
        assert refers_to(policy["notification_channels"], "local.notification_channels"), name
        assert len(block(policy, "documentation")["content"]) > 200, f"{name}: what to do?"
    channels = tf.locals["notification_channels"]
    assert "var.notification_channels" in channels
    assert "google_monitoring_notification_channel.email" in channels
    email = tf.of_type("google_monitoring_notification_channel")["email"]
    assert "var.alerts_enabled" in email["count"] and "var.alert_email" in email["count"]
    # Refused at plan time with no channel (test_variable_validation runs the rule itself).
    rule = tf.variables["alerts_enabled"]["validation"][0]["condition"]
    for name in ("var.alerts_enabled", "var.notification_channels", "var.alert_email"):
        assert name in rule, rule


def test_the_dead_letter_alert_fires_on_each_new_dead_letter_quarantine_apart(
        tf: Module) -> None:
    """A level alert on the dead-letter backlog stays open for the 7 days a quarantined game's
    letter is kept, and later failures page nobody: new dead letters are counted instead, a
    game refused into quarantine is a low-urgency alert of its own."""
    policies = tf.of_type("google_monitoring_alert_policy")
    text = tf.text["monitoring.tf"]
    assert "num_undelivered_messages" not in text
    dead = log_match(policies["dead_letters"])
    assert "local.worker_logs" in dead["filter"]
    assert clauses(dead["filter"]) == ['jsonPayload.event="dead_lettered"',
                                       'NOT jsonPayload.error_type="GamesRefused"']
    quarantined = log_match(policies["quarantine"])
    assert clauses(quarantined["filter"]) == ['jsonPayload.event="dead_lettered"',
                                              'jsonPayload.error_type="GamesRefused"']
    assert (policies["dead_letters"]["severity"], policies["quarantine"]["severity"]) == (
        "ERROR", "WARNING")
    rate = block(block(policies["quarantine"], "alert_strategy"), "notification_rate_limit")
    assert seconds(rate["period"]) >= 86400  # at most one a day
    # What Pub/Sub forwards itself (the worker never answered) is a rate, not a backlog.
    forwarded = condition(policies["dead_letters_forwarded"])
    assert 'metric.type = "pubsub.googleapis.com/subscription/dead_letter_message_count"' in (
        clauses(forwarded["filter"]))
    assert any("google_pubsub_subscription.requests_push.name" in c
               for c in clauses(forwarded["filter"]))
    assert block(forwarded, "aggregations")["per_series_aligner"] == "ALIGN_DELTA"
    backlog = clauses(condition(policies["requests_backlog"])["filter"])
    assert 'metric.type = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"' in (
        backlog
    )
    assert any("google_pubsub_subscription.requests_push.name" in c for c in backlog)
    assert "dead_letter_alert_threshold" not in tf.variables


def test_audit_rows_refused_by_the_table_are_alerted(tf: Module) -> None:
    refused = condition(tf.of_type("google_monitoring_alert_policy")["audit_rows_refused"])
    watched = clauses(refused["filter"])
    assert 'metric.type = "pubsub.googleapis.com/subscription/dead_letter_message_count"' in (
        watched
    )
    assert any("google_pubsub_subscription.audit_bigquery.name" in c for c in watched)
    assert refused["comparison"] == "COMPARISON_GT" and refused["threshold_value"] == 0


def test_detector_5xx_alert(tf: Module) -> None:
    policy = tf.of_type("google_monitoring_alert_policy")["detector_errors"]
    threshold = condition(policy)
    assert clauses(threshold["filter"]) == [
        'resource.type = "cloud_run_revision"',
        'resource.labels.service_name = "${local.detector_service}"',
        'metric.type = "run.googleapis.com/request_count"',
        'metric.labels.response_code_class = "5xx"',
    ]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0
    assert refers_to(tf.locals["detector_service"], "google_cloudfunctions2_function.detector")
    assert refers_to(tf.locals["worker_service"], "google_cloudfunctions2_function.worker")


# metric -> (the clauses its filter must have, the log-match alert on the same lines, the
# function logs that alert reads)
LOG_METRICS = {
    "audit_write_failed": (
        [
            'resource.type="cloud_run_revision"',
            'resource.labels.service_name="${local.worker_service}"',
            'jsonPayload.event="audit_write_failed"',
        ],
        "audit_write_failed",
        "local.worker_logs",
    ),
    "run_stalled": (
        [
            'resource.type="cloud_run_revision"',
            'resource.labels.service_name="${local.detector_service}"',
            'jsonPayload.event="run_stalled"',
        ],
        "run_stalled",
        "local.detector_logs",
    ),
}


@pytest.mark.parametrize("name", sorted(LOG_METRICS))
def test_log_based_metric_and_the_alert_on_the_same_lines(tf: Module, name: str) -> None:
    metrics = tf.of_type("google_logging_metric")
    assert set(metrics) == {*LOG_METRICS, "scheduler_job_failed"}
    expected, policy_name, logs = LOG_METRICS[name]
    metric = metrics[name]
    assert "count" not in metric, "log metrics exist whether or not alerts are enabled"
    assert clauses(metric["filter"]) == expected
    descriptor = block(metric, "metric_descriptor")
    assert descriptor["metric_kind"] == "DELTA" and descriptor["value_type"] == "INT64"
    matched = log_match(tf.of_type("google_monitoring_alert_policy")[policy_name])
    assert logs in matched["filter"] and expected[-1] in clauses(matched["filter"])


def test_the_scheduler_alert_watches_both_jobs(tf: Module) -> None:
    expected = clauses(tf.locals["scheduler_failed_filter"])
    assert expected == [
        'resource.type="cloud_scheduler_job"',
        'resource.labels.job_id=("${google_cloud_scheduler_job.detector.name}" OR '
        '"${google_cloud_scheduler_job.stall_check.name}")',
        "severity>=ERROR",
    ]
    metric = tf.of_type("google_logging_metric")["scheduler_job_failed"]
    policy = tf.of_type("google_monitoring_alert_policy")["scheduler_failed"]
    assert metric["filter"] == log_match(policy)["filter"] == (
        "${local.scheduler_failed_filter}")


def test_a_detection_that_failed_but_published_is_alerted_from_its_log_line(
        tf: Module) -> None:
    """The detector answers 200 then (so Cloud Scheduler does not republish): no 5xx to see."""
    matched = log_match(tf.of_type("google_monitoring_alert_policy")["detection_failed"])
    assert "local.detector_logs" in matched["filter"]
    assert clauses(matched["filter"]) == ['jsonPayload.event="detection_failed"']


def test_a_worker_missing_a_grant_or_a_table_is_alerted_from_its_log_line(tf: Module) -> None:
    """Its 500s are redelivered, not dead-lettered: without this alert nobody would hear of it
    until the backlog alert, hours later."""
    matched = log_match(tf.of_type("google_monitoring_alert_policy")["worker_misconfigured"])
    assert "local.worker_logs" in matched["filter"]
    assert clauses(matched["filter"]) == ['jsonPayload.event="worker_misconfigured"']


def test_stalled_runs_are_told_apart_by_run_id(tf: Module) -> None:
    metric = tf.of_type("google_logging_metric")["run_stalled"]
    assert metric["label_extractors"] == {"run_id": "EXTRACT(jsonPayload.run_id)"}
    labels = block(metric, "metric_descriptor")["labels"]
    assert [label["key"] for label in labels] == ["run_id"]
    policy = tf.of_type("google_monitoring_alert_policy")["run_stalled"]
    assert log_match(policy)["label_extractors"] == {"run_id": "EXTRACT(jsonPayload.run_id)"}
    assert "${log.extracted_label.run_id}" in block(policy, "documentation")["content"]
    env = function_environment(tf, "detector")
    assert env["BACKFILL_RUN_STALL_MINUTES"] == "${tostring(var.run_stall_minutes)}"
    assert tf.variables["run_stall_minutes"]["default"] == 60


# --- First apply on a fresh project ---------------------------------------------------------


def test_no_alert_waits_on_a_log_based_metric_created_in_the_same_apply(tf: Module) -> None:
    """A policy on logging.googleapis.com/user/X is refused for up to 10 minutes after X is
    created (terraform-provider-google#11102): the first apply would fail. Alerts on log lines
    are log-match conditions, which need no metric; each of them is rate-limited, as
    Cloud Monitoring requires."""
    for name, policy in tf.of_type("google_monitoring_alert_policy").items():
        assert "logging.googleapis.com/user/" not in json.dumps(policy), name
        conditions = block(policy, "conditions")
        if "condition_matched_log" in conditions:
            strategy = block(policy, "alert_strategy")
            assert seconds(block(strategy, "notification_rate_limit")["period"]) >= 300, name
            assert seconds(strategy["auto_close"]) >= 1800, name


def test_monitoring_waits_for_the_apis(tf: Module) -> None:
    for rtype in ("google_monitoring_alert_policy", "google_monitoring_notification_channel",
                  "google_logging_metric", "google_cloud_scheduler_job",
                  "google_cloudfunctions2_function"):
        for name, body in tf.of_type(rtype).items():
            assert "${google_project_service.required}" in body.get("depends_on", []), (
                f"{rtype}.{name}")


def test_builds_wait_for_the_builders_grants_to_propagate(tf: Module) -> None:
    """IAM changes take minutes to propagate: a build started right after the grants may be
    denied, so the functions wait on a time_sleep that waits on every builder grant."""
    sleep = tf.of_type("time_sleep")["builder_grants_propagate"]
    assert seconds(sleep["create_duration"]) >= 120
    grants = {f"${{google_project_iam_member.{name}}}"
              for (rtype, name), body in tf.resources.items()
              if rtype == "google_project_iam_member"
              and refers_to(body.get("member"), "google_service_account.builder")}
    assert grants and grants <= set(sleep["depends_on"])
    for name, function in tf.of_type("google_cloudfunctions2_function").items():
        assert "${time_sleep.builder_grants_propagate}" in function["depends_on"], name
    providers = {}
    for settings in tf.terraform:
        for required in settings.get("required_providers", []):
            providers.update(required)
    assert providers["time"]["source"] == "hashicorp/time"
    assert re.fullmatch(r"~>\s*0\.\d+", providers["time"]["version"])


def test_every_labelable_resource_is_labelled(tf: Module) -> None:
    for (rtype, name), body in tf.resources.items():
        if rtype in LABELLED:
            assert refers_to(body.get(LABELLED[rtype]), "local.labels"), f"{rtype}.{name}"
    assert "var.labels" in tf.locals["labels"]


# --- Tools ----------------------------------------------------------------------------------


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "terraform"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"not formatted (run `make tf-fmt`):\n{result.stdout}"


CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def test_checkov_has_no_failed_checks() -> None:
    if not CHECKOV.exists():
        subprocess.run(
            ["make", "-f", "terraform/terraform.mk", "checkov-venv"],
            cwd=REPO_ROOT,
            check=True,
        )
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            "terraform",
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert not failed, failed
    assert summary["passed"] > 0
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, (
            f"{check['check_id']} on {check['resource']} is skipped without a reason"
        )
