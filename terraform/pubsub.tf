# Topology: detector -> requests topic -> push subscription (owned here, so it can carry a
# dead-letter policy and report deliveryAttempt) -> worker. Failures -> dead-letter topic -> a
# pull subscription kept for inspection and replay (`backfill dlq ...`).

resource "google_pubsub_topic" "requests" {
  #checkov:skip=CKV_GCP_83:Messages carry processor names, dates and game ids only (no personal or secret data); Google-managed encryption at rest is sufficient.
  name   = var.requests_topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Dead letters are the same non-sensitive request messages; Google-managed encryption at rest is sufficient.
  name   = var.dead_letter_topic_name
  labels = local.labels

  depends_on = [google_project_service.required]
}

resource "google_pubsub_subscription" "requests_push" {
  name   = var.requests_subscription_name
  topic  = google_pubsub_topic.requests.id
  labels = local.labels

  # Pub/Sub waits this long for the worker's answer; it must cover the worker's whole timeout,
  # or a slow success is redelivered while still running.
  ack_deadline_seconds = var.push_ack_deadline_seconds

  # Long enough to survive a weekend outage of the worker.
  message_retention_duration = "${var.requests_message_retention_seconds}s"

  push_config {
    # The run.app URI: only requests to it from Pub/Sub in this project count as internal traffic.
    push_endpoint = google_cloudfunctions2_function.worker.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.worker.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.retry_minimum_backoff_seconds}s"
    maximum_backoff = "${var.retry_maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # A push subscription that sees no gaps for 31 days must not expire.
  expiration_policy {
    ttl = ""
  }

  # The Pub/Sub service agent must be able to forward to the dead-letter topic and ack here
  # before the first message is dead-lettered.
  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_dead_letter_publisher,
    google_cloud_run_v2_service_iam_member.push_invokes_worker,
  ]
}

resource "google_pubsub_subscription" "dead_letter_pull" {
  name   = var.dead_letter_subscription_name
  topic  = google_pubsub_topic.dead_letter.id
  labels = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s" # 7 days, the Pub/Sub maximum: time to inspect and replay.
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
