# Daily detection, as in the original cron. The detector is idempotent per (processor, date)
# downstream (the worker re-checks each gap), so the scheduler may retry a failed run.

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
