# The audit dataset and table belong to Backfill. The raw and analytics datasets belong to the
# pipeline and are only referenced, unless create_pipeline_datasets is set for a sandbox. The
# Phase 3 target tables are created here when create_target_tables is set (the default).

resource "google_bigquery_dataset" "audit" {
  #checkov:skip=CKV_GCP_81:The audit log holds request ids, dates, outcomes and error text, no personal data; Google-managed encryption at rest is sufficient.
  dataset_id    = var.audit_dataset_id
  friendly_name = "Backfill operations"
  description   = "Backfill audit log: one row per worker event (backfill_log)."
  location      = var.bigquery_location
  labels        = local.labels

  depends_on = [google_project_service.required]
}

resource "google_bigquery_table" "backfill_log" {
  #checkov:skip=CKV_GCP_80:Same data as the dataset above: no personal data, Google-managed encryption at rest is sufficient.
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = "backfill_log"
  description         = "One row per backfill event (succeeded, skipped, dead_lettered, failed_attempt). Written with streaming inserts, never a load job per row."
  labels              = local.labels
  deletion_protection = var.deletion_protection

  time_partitioning {
    type          = "DAY"
    field         = "logged_at"
    expiration_ms = var.audit_retention_days * 24 * 60 * 60 * 1000
  }

  clustering = ["processor"]

  schema = jsonencode([
    { name = "request_id", type = "STRING", mode = "NULLABLE", description = "Request (message) id; null for a message too malformed to decode." },
    { name = "processor", type = "STRING", mode = "NULLABLE", description = "Phase 3 processor name." },
    { name = "game_date", type = "DATE", mode = "NULLABLE", description = "US Eastern game date that was filled." },
    { name = "reason", type = "STRING", mode = "NULLABLE", description = "missing, incomplete, stale, manual or replay." },
    { name = "outcome", type = "STRING", mode = "NULLABLE", description = "succeeded, skipped, dead_lettered or failed_attempt." },
    { name = "attempts", type = "INT64", mode = "NULLABLE", description = "Attempts made in this delivery." },
    { name = "duration_ms", type = "INT64", mode = "NULLABLE", description = "Wall time of the delivery." },
    { name = "error", type = "STRING", mode = "NULLABLE", description = "Last error, if any." },
    { name = "rows_written", type = "INT64", mode = "NULLABLE", description = "Phase 3 rows written." },
    { name = "worker", type = "STRING", mode = "NULLABLE", description = "Worker instance or revision." },
    { name = "logged_at", type = "TIMESTAMP", mode = "REQUIRED", description = "When the event was logged (partition column)." },
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
