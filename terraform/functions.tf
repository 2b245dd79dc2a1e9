# Both functions are HTTP functions on Cloud Run (gen2), reachable only from inside the project
# (Cloud Scheduler and Pub/Sub push count as internal) and only with an OIDC token of an invoker.

locals {
  # Each function's settings beyond local.common_environment (main.tf).
  detector_environment = {
    # gunicorn's thread count; left unset it is cpu_count x 4, not the concurrency Cloud Run
    # sends, so requests would queue inside an instance or threads would sit idle.
    THREADS = tostring(var.detector_concurrency)
    # A run whose outstanding count has not moved for this long is logged as run_stalled.
    BACKFILL_RUN_STALL_MINUTES = tostring(var.run_stall_minutes)
  }
  worker_environment = {
    THREADS                        = tostring(var.worker_concurrency)
    BACKFILL_RETRY_BUDGET_SECONDS  = tostring(local.worker_retry_budget_seconds)
    BACKFILL_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
    # A request waiting on an upstream processor gives up after this long (or on the last
    # delivery attempt), dead-lettered by the worker with the reason.
    BACKFILL_DEPENDENCY_WAIT_SECONDS = tostring(var.dependency_wait_seconds)
    # Audit rows are published here; the topic's BigQuery subscription writes backfill_log.
    BACKFILL_AUDIT_TOPIC = google_pubsub_topic.audit.name
  }
}

resource "google_cloudfunctions2_function" "detector" {
  name        = var.detector_function_name
  location    = var.region
  description = "Backfill detector: finds Phase 2 / Phase 3 gaps and publishes one request per (processor, game_date)."
  labels      = local.labels

  build_config {
    runtime         = "python311"
    entry_point     = "detect"
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["detector"].name
      }
    }
  }

  service_config {
    min_instance_count               = 0
    max_instance_count               = var.detector_max_instances
    max_instance_request_concurrency = var.detector_concurrency
    available_cpu                    = var.detector_concurrency > 1 ? "1" : null
    available_memory                 = var.detector_memory
    timeout_seconds                  = var.detector_timeout_seconds
    ingress_settings                 = var.detector_ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.detector.email
    environment_variables            = merge(local.common_environment, local.detector_environment)
  }

  depends_on = [
    time_sleep.builder_grants_propagate,
    google_project_service.required,
  ]
}

resource "google_cloudfunctions2_function" "worker" {
  name        = var.worker_function_name
  location    = var.region
  description = "Backfill worker: fills one (processor, game_date) per Pub/Sub push, retries transient errors, dead-letters the rest."
  labels      = local.labels

  build_config {
    runtime         = "python311"
    entry_point     = "work"
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["worker"].name
      }
    }
  }

  service_config {
    min_instance_count = 0
    # Instances x concurrency is the backfill's rate limit: at most that many dates run at once.
    max_instance_count               = var.worker_max_instances
    max_instance_request_concurrency = var.worker_concurrency
    # More than one concurrent request per instance needs at least one vCPU.
    available_cpu                  = var.worker_concurrency > 1 ? "1" : null
    available_memory               = var.worker_memory
    timeout_seconds                = var.worker_timeout_seconds
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.worker.email
    environment_variables          = merge(local.common_environment, local.worker_environment)
  }

  depends_on = [
    time_sleep.builder_grants_propagate,
    google_project_service.required,
    # The audit subscription refuses a key its table lacks: a column the worker's rows gain is
    # added to backfill_log (in place, last) before the worker that writes it is deployed.
    google_bigquery_table.backfill_log,
  ]
}

# IAM changes take minutes to reach every service (typically about two, sometimes seven): the
# first build would otherwise start before Cloud Build may use the builder's grants and fail.
resource "time_sleep" "builder_grants_propagate" {
  create_duration = "180s"

  triggers = {
    builder = google_service_account.builder.email
  }

  depends_on = [
    google_project_iam_member.builder,
    google_project_iam_member.builder_reads_sources,
  ]
}
