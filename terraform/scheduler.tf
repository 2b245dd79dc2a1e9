# Daily detection, as in the original cron, and a light call every 15 minutes that only checks
# for stalled runs. The detector answers 500 only when a pass published nothing (a pass with a
# failed processor that published answers 200 and logs detection_failed), so a retry never
# publishes the same gaps again.

resource "google_cloud_scheduler_job" "detector" {
  name        = var.scheduler_job_name
  region      = var.region
  description = "Runs the backfill detector daily."
  schedule    = var.detector_schedule
  time_zone   = var.scheduler_time_zone
  paused      = var.scheduler_paused

  # Cloud Scheduler waits at most 30 minutes for an HTTP target.
  attempt_deadline = "${min(var.detector_timeout_seconds + 30, 1800)}s"

  retry_config {
    retry_count          = var.scheduler_retry_count
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.detector.service_config[0].uri
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode({
      lookback_days = var.detector_lookback_days
      max_messages  = var.detector_max_messages
    }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.detector.service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.scheduler_invokes_detector,
    google_project_service.required,
  ]
}

resource "google_cloud_scheduler_job" "stall_check" {
  name        = var.stall_check_job_name
  region      = var.region
  description = "Asks the backfill detector to log the runs that stalled; publishes nothing."
  schedule    = var.stall_check_schedule
  time_zone   = var.scheduler_time_zone
  paused      = var.scheduler_paused

  attempt_deadline = "${min(var.detector_timeout_seconds + 30, 1800)}s"

  # The next call comes in 15 minutes: no retries.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.detector.service_config[0].uri
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode({
      stalls_only = true
    }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.detector.service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.scheduler_invokes_detector,
    google_project_service.required,
  ]
}
