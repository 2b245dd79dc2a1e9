output "detector_url" {
  description = "URL of the detector function (POST {\"lookback_days\": N, \"max_messages\": N} with an identity token)."
  value       = google_cloudfunctions2_function.detector.service_config[0].uri
}

output "worker_url" {
  description = "URL of the worker function (the push subscription's endpoint)."
  value       = google_cloudfunctions2_function.worker.service_config[0].uri
}

output "requests_topic_id" {
  description = "Topic the detector publishes to."
  value       = google_pubsub_topic.requests.id
}

output "dead_letter_topic_id" {
  description = "Topic failed requests are dead-lettered to."
  value       = google_pubsub_topic.dead_letter.id
}

output "requests_subscription_id" {
  description = "Push subscription feeding the worker."
  value       = google_pubsub_subscription.requests_push.id
}

output "dead_letter_subscription_id" {
  description = "Pull subscription holding dead letters for inspection and replay."
  value       = google_pubsub_subscription.dead_letter_pull.id
}

output "audit_topic_id" {
  description = "Topic the worker publishes audit rows to; its BigQuery subscription writes backfill_log."
  value       = google_pubsub_topic.audit.id
}

output "audit_dead_letter_subscription_id" {
  description = "Pull subscription holding audit rows backfill_log refused, for inspection."
  value       = google_pubsub_subscription.audit_dead_letter_pull.id
}

output "service_accounts" {
  description = "Service account emails, by role."
  value = {
    detector  = google_service_account.detector.email
    worker    = google_service_account.worker.email
    push      = google_service_account.push.email
    scheduler = google_service_account.scheduler.email
    builder   = google_service_account.builder.email
  }
}

output "scheduler_job" {
  description = "Cloud Scheduler job that runs detection (`gcloud scheduler jobs run` it to detect now)."
  value       = google_cloud_scheduler_job.detector.name
}

output "audit_table" {
  description = "Fully qualified audit table."
  value       = "${var.project_id}.${google_bigquery_dataset.audit.dataset_id}.${google_bigquery_table.backfill_log.table_id}"
}

output "sources_bucket" {
  description = "Bucket holding the function source archives."
  value       = google_storage_bucket.sources.name
}

output "audit_tables" {
  description = "Backfill's own tables (audit log, quarantine, detection runs), fully qualified."
  value       = { for name, table in local.audit_tables : name => "${var.project_id}.${table.dataset_id}.${table.table_id}" }
}
