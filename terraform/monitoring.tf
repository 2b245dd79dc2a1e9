# Alerts that reach someone: new dead letters (a human must look), dead letters Pub/Sub forwarded
# (the worker never answered), games refused into quarantine (low urgency), requests waiting too
# long (the worker is down or cannot keep up), detector 5xx (it crashed or nothing went out), a
# detection pass with a failed processor, a misconfigured worker (a grant or a table it lacks),
# the scheduler jobs failing, audit writes failing, and a stalled run. `terraform plan` refuses a deployment whose alerts would notify nobody unless
# alerts_enabled = false says so (variables.tf).
#
# First apply on a fresh project: alerts on the functions' log lines are log-match conditions,
# never thresholds on the log-based metrics below (a metric created in the same apply is
# refused for up to 10 minutes: hashicorp/terraform-provider-google#11102), and everything here
# waits for the APIs (services.tf). The log-based metrics exist for dashboards.

resource "google_monitoring_notification_channel" "email" {
  count = var.alerts_enabled && var.alert_email != "" ? 1 : 0

  display_name = "Backfill alerts (${var.alert_email})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
  user_labels = local.labels

  depends_on = [google_project_service.required]
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

  # Log lines of each function (gen2 functions log as their Cloud Run revision).
  worker_logs   = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.worker_service}\""
  detector_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.detector_service}\""
  scheduler_failed_filter = join(" AND ", [
    "resource.type=\"cloud_scheduler_job\"",
    "resource.labels.job_id=(\"${google_cloud_scheduler_job.detector.name}\" OR \"${google_cloud_scheduler_job.stall_check.name}\")",
    "severity>=ERROR",
  ])
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

  depends_on = [google_project_service.required]
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

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "scheduler_job_failed" {
  name        = "backfill_scheduler_job_failed"
  description = "Failed attempts of the Cloud Scheduler job that runs the detector."
  filter      = local.scheduler_failed_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Backfill scheduler job failures"
  }

  depends_on = [google_project_service.required]
}

# --- alert policies -------------------------------------------------------------------------
# A log-match policy opens an incident per matching line, at most one notification per
# notification_rate_limit period, and closes it after auto_close.

resource "google_monitoring_alert_policy" "dead_letters" {
  count = local.alert_policies

  display_name          = "Backfill: requests dead-lettered"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "New dead letters of ${local.worker_service}, games refused into quarantine aside"

    # Each new dead letter, not the backlog: a dead letter waits on the inspection subscription
    # for 7 days, so a level alert would stay open all week after the first one and page nobody
    # for the next. Refused games are dead-lettered by design: the quarantine alert says so.
    condition_matched_log {
      filter = join(" AND ", [
        local.worker_logs,
        "jsonPayload.event=\"dead_lettered\"",
        "NOT jsonPayload.error_type=\"GamesRefused\"",
      ])
      label_extractors = {
        error_type = "EXTRACT(jsonPayload.error_type)"
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
    notification_rate_limit {
      period = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The worker dead-lettered a request ($${log.extracted_label.error_type}) to
      `${google_pubsub_topic.dead_letter.name}`: it failed permanently, ran out of its retry
      budget, waited too long on an upstream processor, or could not be read. Inspect with
      `backfill dlq list` / `backfill dlq show` (each letter carries its reason), fix the
      cause, then `backfill dlq replay`. `${google_bigquery_dataset.audit.dataset_id}.backfill_log`
      has one row per attempt with the error. Games refused into quarantine do not fire this
      alert (see "games quarantined").
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "dead_letters_forwarded" {
  count = local.alert_policies

  display_name          = "Backfill: requests Pub/Sub gave up on"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Dead letters forwarded from ${google_pubsub_subscription.requests_push.name}"

    # A rate (messages forwarded per period), so it closes once none are forwarded.
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.requests_push.name}\"",
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
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Pub/Sub's dead-letter policy forwarded requests to `${google_pubsub_topic.dead_letter.name}`
      after ${var.max_delivery_attempts} deliveries the worker never answered (crashes,
      timeouts, an instance cap that kept answering 429): the worker dead-letters every failure
      it sees itself, so these letters carry no reason. Read the worker's logs
      (`${local.worker_service}`) and the push subscription's delivery errors, fix, then
      `backfill dlq list` and `backfill dlq replay`.
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "quarantine" {
  count = local.alert_policies

  display_name          = "Backfill: games quarantined"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Games refused by ${local.worker_service}"

    condition_matched_log {
      filter = join(" AND ", [
        local.worker_logs,
        "jsonPayload.event=\"dead_lettered\"",
        "jsonPayload.error_type=\"GamesRefused\"",
      ])
      label_extractors = {
        processor = "EXTRACT(jsonPayload.processor)"
      }
    }
  }

  # Low urgency: at most one notification a day; the games are held, not lost.
  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "86400s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A processor ($${log.extracted_label.processor}) refused games whose Phase 2 rows are bad
      (unreadable minutes, a NULL stat on an active row): the date's other games were written,
      the refused ones are held in quarantine and not published again until their Phase 2 rows
      are re-processed. Nothing is urgent. See `backfill quarantine list`; once the source is
      fixed upstream the next detection publishes them again, or release them with
      `backfill quarantine release`.
    EOT
  }

  depends_on = [google_project_service.required]
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

  depends_on = [google_project_service.required]
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
      The detector answered 5xx: a detection pass failed before anything was published (a
      processor's detection failed and nothing else had gaps, or the warehouse could not be
      read), the deployment is misconfigured, or the function crashed or timed out. Cloud
      Scheduler retries the run ${var.scheduler_retry_count} time(s), which is safe since nothing
      went out. Read the detector's logs (`${local.detector_service}`), fix the cause, then run
      the job again:
      `gcloud scheduler jobs run ${google_cloud_scheduler_job.detector.name} --location ${var.region}`.
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "detection_failed" {
  count = local.alert_policies

  display_name          = "Backfill: a processor's detection failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "detection_failed log lines of ${local.detector_service}"

    condition_matched_log {
      filter = join(" AND ", [
        local.detector_logs,
        "jsonPayload.event=\"detection_failed\"",
      ])
    }
  }

  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "3600s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A detection pass could not check a processor (its table missing or misshapen, the
      schedule unreadable) or could not publish everything it found. The log line names each
      failure. When anything was published the detector still answered 200, so Cloud Scheduler
      does not retry and publish the same gaps again; the processors that were checked had
      their gaps published. Fix the cause, then run the job again:
      `gcloud scheduler jobs run ${google_cloud_scheduler_job.detector.name} --location ${var.region}`
      (the worker re-checks every request, so what the first pass published is skipped).
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "worker_misconfigured" {
  count = local.alert_policies

  display_name          = "Backfill: worker misconfigured"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "worker_misconfigured log lines of ${local.worker_service}"

    condition_matched_log {
      filter = join(" AND ", [
        local.worker_logs,
        "jsonPayload.event=\"worker_misconfigured\"",
      ])
    }
  }

  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "3600s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The worker answered 500 because the deployment, not the request, is wrong: a permission
      it lacks (BigQuery's text names the table and the permission), a target table with columns
      Backfill does not write, or a missing setting. Nothing is dead-lettered by the worker:
      Pub/Sub delivers the requests again, and they succeed once the cause is fixed (grant the
      permission with `make deploy`, or see terraform/README.md, Adopting existing tables).
      Past max_delivery_attempts Pub/Sub's own dead-letter policy forwards them: replay them with
      `backfill dlq replay` after the fix.
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "scheduler_failed" {
  count = local.alert_policies

  display_name          = "Backfill: scheduled call failed"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Failed attempts of ${google_cloud_scheduler_job.detector.name} or ${google_cloud_scheduler_job.stall_check.name}"

    condition_matched_log {
      filter = local.scheduler_failed_filter
      label_extractors = {
        job = "EXTRACT(resource.labels.job_id)"
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "3600s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Cloud Scheduler could not run $${log.extracted_label.job}: the detector answered an error
      (see the detector alert), refused the job's identity token (401/403: the scheduler
      service account lost run.invoker, or ingress changed), or did not answer within the
      attempt deadline. Until this is fixed no gaps are detected (or no stalled run is
      noticed). See the job's logs in Cloud Logging (resource.type="cloud_scheduler_job"), fix,
      then `gcloud scheduler jobs run JOB --location ${var.region}`.
    EOT
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "audit_write_failed" {
  count = local.alert_policies

  display_name          = "Backfill: audit writes failing"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "audit_write_failed log lines of ${local.worker_service}"

    condition_matched_log {
      filter = join(" AND ", [
        local.worker_logs,
        "jsonPayload.event=\"audit_write_failed\"",
      ])
    }
  }

  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "3600s"
    }
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

  depends_on = [google_project_service.required]
}

resource "google_monitoring_alert_policy" "run_stalled" {
  count = local.alert_policies

  display_name          = "Backfill: run stalled"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "run_stalled log lines of ${local.detector_service}"

    condition_matched_log {
      filter = join(" AND ", [
        local.detector_logs,
        "jsonPayload.event=\"run_stalled\"",
      ])
      label_extractors = {
        run_id = "EXTRACT(jsonPayload.run_id)"
      }
    }
  }

  # The stall check runs every 15 minutes and logs a stalled run each time: one notification
  # per few hours is enough.
  alert_strategy {
    auto_close = "86400s"
    notification_rate_limit {
      period = "14400s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Backfill run $${log.extracted_label.run_id} still has outstanding requests and its count
      has not moved for ${var.run_stall_minutes} minutes: the requests are neither done nor
      dead-lettered. Check the "requests waiting too long" alert and the worker's logs (is it
      running, answering 429 or 5xx?), then the run's rows in
      `${google_bigquery_dataset.audit.dataset_id}.backfill_runs` and `backfill_log`
      (filter on run_id). A run waiting on an upstream processor ends by itself after
      dependency_wait_seconds (${var.dependency_wait_seconds} s).
    EOT
  }

  depends_on = [google_project_service.required]
}
