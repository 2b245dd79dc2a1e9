# Two alerts: anything in the dead-letter queue needs a human; an old unacked request means the
# worker is down or cannot keep up.

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  display_name = "Backfill alerts (${var.alert_email})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
  user_labels = local.labels
}

locals {
  notification_channels = concat(
    var.notification_channels,
    google_monitoring_notification_channel.email[*].id,
  )
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Backfill: dead-lettered requests"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Undelivered messages in ${google_pubsub_subscription.dead_letter_pull.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter_pull.name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.dead_letter_alert_threshold
      duration        = "60s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Backfill requests failed permanently or exhausted their delivery attempts and were
      dead-lettered to `${google_pubsub_topic.dead_letter.name}`.
      Inspect with `backfill dlq list` / `backfill dlq show`, fix the cause, then
      `backfill dlq replay`. The `backfill_log` table in `${google_bigquery_dataset.audit.dataset_id}`
      has one row per attempt with the error.
    EOT
  }
}

resource "google_monitoring_alert_policy" "requests_backlog" {
  display_name          = "Backfill: requests waiting too long"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Oldest unacked message in ${google_pubsub_subscription.requests_push.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.requests_push.name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.requests_oldest_unacked_alert_seconds
      duration        = "600s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A backfill request has waited more than ${var.requests_oldest_unacked_alert_seconds} s on
      `${google_pubsub_subscription.requests_push.name}`. The worker (`${google_cloudfunctions2_function.worker.name}`)
      is failing, being throttled by its instance cap, or unreachable. Check its logs and the
      push subscription's delivery errors.
    EOT
  }
}
