# The audit dataset and its tables belong to Backfill. The raw and analytics datasets belong to the
# pipeline and are only referenced, unless create_pipeline_datasets is set for a sandbox. The
# Phase 3 target tables are created here when create_target_tables is set (the default).

resource "google_bigquery_dataset" "audit" {
  #checkov:skip=CKV_GCP_81:The audit tables hold request ids, dates, outcomes and error text, no personal data; Google-managed encryption at rest is sufficient.
  dataset_id    = var.audit_dataset_id
  friendly_name = "Backfill operations"
  description   = "Backfill's own tables: backfill_log (one row per worker event), quarantine (games refused), backfill_runs (detection runs)."
  location      = var.bigquery_location
  labels        = local.labels

  depends_on = [google_project_service.required]
}

locals {
  audit_retention_ms = var.audit_retention_days * 24 * 60 * 60 * 1000

  # Backfill's own tables, all written with streaming inserts (append-only); the functions'
  # grants on them are on this dataset (iam.tf), where streaming's bigquery.datasets.get lives.
  audit_tables = {
    backfill_log  = google_bigquery_table.backfill_log
    quarantine    = google_bigquery_table.quarantine
    backfill_runs = google_bigquery_table.backfill_runs
  }
}

resource "google_bigquery_table" "backfill_log" {
  #checkov:skip=CKV_GCP_80:Same data as the dataset above: no personal data, Google-managed encryption at rest is sufficient.
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = "backfill_log"
  description         = "One row per backfill event (succeeded, skipped, dead_lettered, failed_attempt). Written by the audit topic's BigQuery subscription, never a load job per row."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type          = "DAY"
    field         = "logged_at"
    expiration_ms = local.audit_retention_ms
  }

  clustering = ["processor", "game_date"]

  # The audit topic's BigQuery subscription writes this schema's columns from each message's
  # keys (audit.tf); tests/unit/test_audit_message.py holds the worker's messages to it.
  schema = file("${path.module}/schemas/backfill_log.json")
}

resource "google_bigquery_table" "quarantine" {
  #checkov:skip=CKV_GCP_80:Same data as the dataset above: no personal data, Google-managed encryption at rest is sufficient.
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = "quarantine"
  description         = "Games a worker refused to write (the source is not fit), one row per game and attempt. Written with streaming inserts."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  # By game date, as the games are looked up. No partition expiration: it would count from the
  # game date, so a backfill of an old season would write rows that expire at once.
  time_partitioning {
    type  = "DAY"
    field = "game_date"
  }

  clustering = ["processor"]

  schema = jsonencode([
    { name = "processor", type = "STRING", mode = "NULLABLE", description = "Phase 3 processor that refused the game." },
    { name = "game_date", type = "DATE", mode = "NULLABLE", description = "US Eastern game date (partition column)." },
    { name = "game_id", type = "STRING", mode = "NULLABLE", description = "The game refused." },
    { name = "state", type = "STRING", mode = "NULLABLE", description = "What was wrong with the game's source rows." },
    { name = "reason", type = "STRING", mode = "NULLABLE", description = "Why it was refused, as text." },
    { name = "source_processed_at", type = "TIMESTAMP", mode = "NULLABLE", description = "Retired (holds were judged on it before content fingerprints); no longer written, kept so existing tables keep their schema: BigQuery cannot drop a column in place." },
    { name = "request_id", type = "STRING", mode = "NULLABLE", description = "Request (message) id whose delivery refused it." },
    { name = "run_id", type = "STRING", mode = "NULLABLE", description = "Detection run that published the request, if any." },
    { name = "recorded_at", type = "TIMESTAMP", mode = "NULLABLE", description = "When the row was written." },
    { name = "inputs", type = "STRING", mode = "NULLABLE", description = "What the game was refused on (JSON: the processor version and a content fingerprint per input), so a corrected or deleted source row, or a new version, shows." },
  ])
}

resource "google_bigquery_table" "backfill_runs" {
  #checkov:skip=CKV_GCP_80:Same data as the dataset above: no personal data, Google-managed encryption at rest is sufficient.
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = "backfill_runs"
  description         = "One row per event of a run (started, cancelled; the requests its workers publish are counted from backfill_log). Written with streaming inserts."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type          = "DAY"
    field         = "recorded_at"
    expiration_ms = local.audit_retention_ms
  }

  clustering = ["run_id"]

  schema = jsonencode([
    { name = "run_id", type = "STRING", mode = "NULLABLE", description = "Detection run id." },
    { name = "event", type = "STRING", mode = "NULLABLE", description = "What happened to the run." },
    { name = "trigger", type = "STRING", mode = "NULLABLE", description = "What started it (scheduler, manual, ...)." },
    { name = "started_by", type = "STRING", mode = "NULLABLE", description = "Identity or host that started it." },
    { name = "window_start", type = "DATE", mode = "NULLABLE", description = "First game date detected." },
    { name = "window_end", type = "DATE", mode = "NULLABLE", description = "Last game date detected." },
    { name = "processors", type = "STRING", mode = "NULLABLE", description = "Processors detected, comma-separated." },
    { name = "found", type = "INT64", mode = "NULLABLE", description = "Gaps found." },
    { name = "published", type = "INT64", mode = "NULLABLE", description = "Requests published." },
    { name = "deferred", type = "INT64", mode = "NULLABLE", description = "Gaps left for a later pass (max_messages)." },
    { name = "published_by_processor", type = "STRING", mode = "NULLABLE", description = "Requests published per processor, as JSON." },
    { name = "started_at", type = "TIMESTAMP", mode = "NULLABLE", description = "When the run started." },
    { name = "recorded_at", type = "TIMESTAMP", mode = "NULLABLE", description = "When the row was written (partition column)." },
  ])
}

resource "google_bigquery_dataset" "pipeline" {
  #checkov:skip=CKV_GCP_81:Sandbox-only copies of the pipeline datasets (create_pipeline_datasets); production datasets are owned and encrypted by the pipeline.
  for_each = var.create_pipeline_datasets ? {
    raw       = var.raw_dataset_id
    analytics = var.analytics_dataset_id
  } : {}

  dataset_id  = each.value
  description = "Sandbox ${each.key} dataset created by the Backfill module."
  location    = var.bigquery_location
  labels      = local.labels

  depends_on = [google_project_service.required]
}

# Phase 3 tables, when this module creates them: table-level grants (iam.tf) need the tables
# to exist, and a processor may be deployed before anything has written its table. Partitioned
# by day on game_date, which Backfill requires (each MERGE and detection scan then touches only
# its dates' partitions; the adapter refuses a table partitioned otherwise).
resource "google_bigquery_table" "target" {
  #checkov:skip=CKV_GCP_80:Phase 3 box-score aggregates (teams, players' public game statistics), no personal or secret data; Google-managed encryption at rest is sufficient, as for the pipeline's own tables.
  for_each = var.create_target_tables ? toset(var.target_tables) : toset([])

  dataset_id          = local.analytics_dataset_id
  table_id            = each.key
  description         = "Phase 3 table written by Backfill's ${each.key} processor (created by the Backfill module: create_target_tables)."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = "game_date"
  }

  clustering = ["game_id"]

  # Generated from the processors by `make schemas` (terraform/schemas.py).
  schema = file("${path.module}/schemas/${each.key}.json")
}
