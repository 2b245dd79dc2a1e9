# Shared values. Resources live in one file per service: pubsub.tf, functions.tf, scheduler.tf,
# iam.tf, bigquery.tf, monitoring.tf, storage.tf, services.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = merge(var.labels, {
    app        = "backfill"
    managed-by = "terraform"
  })

  # Google-managed identity that delivers push messages and forwards dead letters.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # The worker's tenacity budget stays a minute below its timeout, so a retried call is
  # abandoned (and the message nacked or dead-lettered) before the platform kills the request.
  worker_retry_budget_seconds = var.worker_timeout_seconds - 60

  # Raw and analytics datasets belong to the pipeline; they are created here only for a sandbox.
  raw_dataset_id       = var.create_pipeline_datasets ? google_bigquery_dataset.pipeline["raw"].dataset_id : var.raw_dataset_id
  analytics_dataset_id = var.create_pipeline_datasets ? google_bigquery_dataset.pipeline["analytics"].dataset_id : var.analytics_dataset_id

  common_environment = {
    GOOGLE_CLOUD_PROJECT              = var.project_id
    BACKFILL_WAREHOUSE                = "bigquery://${var.project_id}"
    BACKFILL_TIMEZONE                 = var.backfill_timezone
    BACKFILL_REQUESTS_TOPIC           = google_pubsub_topic.requests.name
    BACKFILL_DEAD_LETTER_TOPIC        = google_pubsub_topic.dead_letter.name
    BACKFILL_DEAD_LETTER_SUBSCRIPTION = google_pubsub_subscription.dead_letter_pull.name
    BACKFILL_AUDIT_DATASET            = google_bigquery_dataset.audit.dataset_id
    BACKFILL_RAW_DATASET              = local.raw_dataset_id
    BACKFILL_ANALYTICS_DATASET        = local.analytics_dataset_id
    # Every query job sets maximum_bytes_billed and labels: a query that lost its partition
    # filter fails instead of billing a whole table.
    BACKFILL_MAXIMUM_BYTES_BILLED = tostring(var.maximum_bytes_billed)
  }
}
