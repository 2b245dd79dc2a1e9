# The audit trail rides Pub/Sub: the worker publishes one JSON message per backfill_log row to
# the audit topic and answers once Pub/Sub has confirmed them (tens of milliseconds, not a
# BigQuery round trip); a BigQuery subscription writes each message into the table within
# seconds. use_table_schema: the message's keys are the table's columns (schemas/backfill_log.json,
# which a test holds the worker's messages to). No metadata columns (write_metadata = false):
# the rows keep the table's schema, which `backfill runs`, `history` and `status` read and the
# local warehouse shares; a row already names its request, run and time. Delivery is at least
# once, so a row may land twice: every count reads each request's newest outcome, and what each
# delivery published once by its request and time, so a duplicate changes none. Rows the table
# refuses go to a dead-letter topic, kept a week, and an alert fires.

resource "google_pubsub_topic" "audit" {
  #checkov:skip=CKV_GCP_83:Audit rows carry processor names, dates, outcomes and error text (no personal or secret data); Google-managed encryption at rest is sufficient.
  name   = var.audit_topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

resource "google_pubsub_topic" "audit_dead_letter" {
  #checkov:skip=CKV_GCP_83:The same non-sensitive audit rows; Google-managed encryption at rest is sufficient.
  name   = var.audit_dead_letter_topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

resource "google_pubsub_subscription" "audit_bigquery" {
  name   = var.audit_subscription_name
  topic  = google_pubsub_topic.audit.id
  labels = local.labels

  bigquery_config {
    table            = "${google_bigquery_table.backfill_log.project}.${google_bigquery_table.backfill_log.dataset_id}.${google_bigquery_table.backfill_log.table_id}"
    use_table_schema = true
    write_metadata   = false
    # A key the table does not have makes the row refused (dead-lettered, alerted), not
    # silently dropped: a drift between the messages and the table shows at once.
    drop_unknown_fields = false
  }

  # Rows wait here while BigQuery is unavailable (a week, the most a subscription keeps).
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.audit_dead_letter.id
    max_delivery_attempts = var.audit_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  # The service agent writes the table and forwards refused rows from the first message on.
  depends_on = [
    google_bigquery_table_iam_member.pubsub_agent_writes_audit_log,
    google_pubsub_topic_iam_member.pubsub_agent_audit_dead_letter_publisher,
  ]
}

# Refused rows, kept a week: read them with
# `gcloud pubsub subscriptions pull <name> --limit 10` (the body is the row, as JSON).
resource "google_pubsub_subscription" "audit_dead_letter_pull" {
  name   = var.audit_dead_letter_subscription_name
  topic  = google_pubsub_topic.audit_dead_letter.id
  labels = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# --- grants ---------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "worker_publishes_audit" {
  topic  = google_pubsub_topic.audit.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

# The Pub/Sub service agent (local.pubsub_service_agent, main.tf: the project's own Google-made
# identity, service-PROJECT_NUMBER@gcp-sa-pubsub) writes the rows: dataEditor on this table
# alone (tables.get for its schema, tables.updateData for the writes), nothing on the dataset.
resource "google_bigquery_table_iam_member" "pubsub_agent_writes_audit_log" {
  dataset_id = google_bigquery_table.backfill_log.dataset_id
  table_id   = google_bigquery_table.backfill_log.table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_audit_dead_letter_publisher" {
  topic  = google_pubsub_topic.audit_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_audit_subscriber" {
  subscription = google_pubsub_subscription.audit_bigquery.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# --- alert: rows the table refused ----------------------------------------------------------

resource "google_monitoring_alert_policy" "audit_rows_refused" {
  count = local.alert_policies

  display_name          = "Backfill: audit rows refused by backfill_log"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Dead-lettered messages of ${google_pubsub_subscription.audit_bigquery.name}"

    # A rate (rows dead-lettered per period), so it closes once none are.
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.audit_bigquery.name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The BigQuery subscription `${google_pubsub_subscription.audit_bigquery.name}` could not
      write audit rows into `${google_bigquery_dataset.audit.dataset_id}.backfill_log` after
      ${var.audit_max_delivery_attempts} attempts and moved them to
      `${google_pubsub_topic.audit_dead_letter.name}` (requests themselves were done: the
      audit never fails a request). `runs` and `history` miss those rows until they are put
      back. Usual causes: the table's schema changed (a message key it lacks, a type it refuses),
      the service agent lost dataEditor on the table, or the table was deleted. Read them with
      `gcloud pubsub subscriptions pull ${google_pubsub_subscription.audit_dead_letter_pull.name} --limit 10`;
      once fixed, insert the bodies (each a row as JSON) with `bq insert`.
    EOT
  }

  depends_on = [google_project_service.required]
}
