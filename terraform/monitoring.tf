# Alerts that reach someone. Six policies: dead letters (a human must look), requests waiting
# too long (the worker is down or cannot keep up), detector 5xx (a detection pass failed),
# the scheduler job failing (detection did not run), audit writes failing (the trail has
# holes), and a stalled run (requests published but nothing moves). `terraform plan` refuses a
# deployment whose alerts would notify nobody unless alerts_enabled = false says so
# (variables.tf). The log-based metrics exist either way, for dashboards.

resource "google_monitoring_notification_channel" "email" {
  count = var.alerts_enabled && var.alert_email != "" ? 1 : 0

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
  alert_policies = var.alerts_enabled ? 1 : 0

  # Cloud Run service names (service_config.service may be a full resource name).
  detector_service = element(reverse(split("/", google_cloudfunctions2_function.detector.service_config[0].service)), 0)
  worker_service   = element(reverse(split("/", google_cloudfunctions2_function.worker.service_config[0].service)), 0)
}

# --- log-based metrics ----------------------------------------------------------------------
# The functions log one JSON object a line (backfill.entrypoints.logs); Cloud Logging puts
# its fields under jsonPayload. Gen2 functions log as their Cloud Run revision.

resource "google_logging_metric" "audit_write_failed" {
  name        = "backfill_audit_write_failed"
  description = "Worker log lines saying an audit row could not be written (the rows are in the log line)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.worker_service}\"",
    "jsonPayload.event=\"audit_write_failed\"",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Backfill audit writes failed"
  }
}

resource "google_logging_metric" "run_stalled" {
  name        = "backfill_run_stalled"
  description = "Detector log lines saying a backfill run's outstanding count has not moved for run_stall_minutes."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.detector_service}\"",
    "jsonPayload.event=\"run_stalled\"",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Backfill runs stalled"

    labels {
      key         = "run_id"
      value_type  = "STRING"
      description = "The stalled run (backfill_runs.run_id)."
    }
  }

  label_extractors = {
    run_id = "EXTRACT(jsonPayload.run_id)"
  }
}

resource "google_logging_metric" "scheduler_job_failed" {
  name        = "backfill_scheduler_job_failed"
  description = "Failed attempts of the Cloud Scheduler job that runs the detector."
  filter = join(" AND ", [
    "resource.type=\"cloud_scheduler_job\"",
    "resource.labels.job_id=\"${google_cloud_scheduler_job.detector.name}\"",
    "severity>=ERROR",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Backfill scheduler job failures"
  }
}

# --- alert policies -------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "dead_letters" {
  count = local.alert_policies

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
      Inspect with `backfill dlq list` / `backfill dlq show`: a letter the worker sent carries
      its reason; one without a reason was forwarded by Pub/Sub after
      ${var.max_delivery_attempts} failed deliveries (the worker never answered). Fix the cause,
      then `backfill dlq replay`. `${google_bigquery_dataset.audit.dataset_id}.backfill_log`
      has one row per attempt with the error.
    EOT
  }
}

resource "google_monitoring_alert_policy" "requests_backlog" {
  count = local.alert_policies

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
      is failing, being throttled by its instance cap (429s are expected under load, not for
      hours), or unreachable. Check its logs and the push subscription's delivery errors; if a
      pass simply published more than the worker drains, lower detector_max_messages or raise
      worker_max_instances (terraform/README.md, sizing).
    EOT
  }
}

resource "google_monitoring_alert_policy" "detector_errors" {
  count = local.alert_policies

  display_name          = "Backfill: detector failed"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "5xx responses of ${local.detector_service}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${local.detector_service}\"",
        "metric.type = \"run.googleapis.com/request_count\"",
        "metric.labels.response_code_class = \"5xx\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
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
      The detector answered 5xx: a processor's detection failed (its report lists which; the
      others' gaps were still published) or the function crashed or timed out. Cloud Scheduler
      retries the run ${var.scheduler_retry_count} time(s). Read the detector's logs
      (`${local.detector_service}`), fix the cause, then run the job again:
      `gcloud scheduler jobs run ${google_cloud_scheduler_job.detector.name} --location ${var.region}`.
    EOT
  }
}

resource "google_monitoring_alert_policy" "scheduler_failed" {
  count = local.alert_policies

  display_name          = "Backfill: scheduled detection failed"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Failed attempts of ${google_cloud_scheduler_job.detector.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_scheduler_job\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.scheduler_job_failed.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
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
      Cloud Scheduler could not run the detector: it answered an error (see the detector
      alert), refused the job's identity token (401/403: the scheduler service account lost
      run.invoker, or ingress changed), or did not answer within the attempt deadline. Until
      this is fixed no gaps are detected. See the job's logs in Cloud Logging
      (resource.type="cloud_scheduler_job"), fix, then
      `gcloud scheduler jobs run ${google_cloud_scheduler_job.detector.name} --location ${var.region}`.
    EOT
  }
}

resource "google_monitoring_alert_policy" "audit_write_failed" {
  count = local.alert_policies

  display_name          = "Backfill: audit writes failing"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "audit_write_failed log lines of ${local.worker_service}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.audit_write_failed.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
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
      The worker could not write audit rows to `${google_bigquery_dataset.audit.dataset_id}`
      (requests themselves were still done or dead-lettered: the audit never fails a request).
      The trail has holes until this is fixed. Usual causes: the worker lost its grant on an
      audit table, a table was deleted or its schema no longer matches the rows, or BigQuery's
      streaming inserts were unavailable. Each log line carries the rows it could not write:
      find them with jsonPayload.event="audit_write_failed" and insert them once fixed.
    EOT
  }
}

resource "google_monitoring_alert_policy" "run_stalled" {
  count = local.alert_policies

  display_name          = "Backfill: run stalled"
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "run_stalled log lines of ${local.detector_service}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.run_stalled.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.run_id"]
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Backfill run $${metric.label.run_id} still has outstanding requests and its count has not
      moved for ${var.run_stall_minutes} minutes: the requests are neither done nor
      dead-lettered. Check the "requests waiting too long" alert and the worker's logs (is it
      running, answering 429 or 5xx?), then the run's rows in
      `${google_bigquery_dataset.audit.dataset_id}.backfill_runs` and `backfill_log`
      (filter on run_id). A run waiting on an upstream processor ends by itself after
      dependency_wait_seconds (${var.dependency_wait_seconds} s).
    EOT
  }
}
