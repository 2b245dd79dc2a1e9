# ---------------------------------------------------------------------------------------------
# Project
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project to deploy into (also the BigQuery project of the warehouse)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions, the scheduler job and the source bucket."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "labels" {
  description = "Extra labels for every labelable resource (app = backfill and managed-by = terraform are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must start with a lowercase letter; keys and values use lowercase letters, digits, _ and - (at most 63 characters)."
  }
}

variable "enable_apis" {
  description = "Enable the required Google APIs (set false if the project's APIs are managed elsewhere)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Pub/Sub
# ---------------------------------------------------------------------------------------------

variable "requests_topic_name" {
  description = "Topic requests are published to. (BACKFILL_REQUESTS_TOPIC)."
  type        = string
  default     = "backfill-requests"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.requests_topic_name))
    error_message = "Topic names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "dead_letter_topic_name" {
  description = "Topic dead letters are published to. (BACKFILL_DEAD_LETTER_TOPIC)."
  type        = string
  default     = "backfill-dead-letter"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.dead_letter_topic_name))
    error_message = "Topic names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "requests_subscription_name" {
  description = "Push subscription feeding the worker function (`backfill stack`, Terraform). (BACKFILL_PUSH_SUBSCRIPTION)."
  type        = string
  default     = "backfill-requests-push"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.requests_subscription_name))
    error_message = "Subscription names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "dead_letter_subscription_name" {
  description = "Pull subscription where dead letters are kept for inspection and replay. (BACKFILL_DEAD_LETTER_SUBSCRIPTION)."
  type        = string
  default     = "backfill-dead-letter-inspect"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.dead_letter_subscription_name))
    error_message = "Subscription names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "audit_topic_name" {
  description = "Topic the worker publishes its audit rows to, which a BigQuery subscription writes into backfill_log; unset, the rows are appended to the warehouse directly. (BACKFILL_AUDIT_TOPIC). Always set on the deployed worker."
  type        = string
  default     = "backfill-audit"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.audit_topic_name))
    error_message = "Topic names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "audit_subscription_name" {
  description = "Subscription that writes the audit topic into backfill_log (a BigQuery subscription in Terraform; `backfill stack` pulls it into DuckDB). (BACKFILL_AUDIT_SUBSCRIPTION)."
  type        = string
  default     = "backfill-audit-log"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.audit_subscription_name))
    error_message = "Subscription names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "audit_dead_letter_topic_name" {
  description = "Topic the audit subscription moves rows to that backfill_log refused."
  type        = string
  default     = "backfill-audit-dead-letter"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.audit_dead_letter_topic_name))
    error_message = "Topic names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "audit_dead_letter_subscription_name" {
  description = "Pull subscription keeping refused audit rows a week, to read and insert once fixed."
  type        = string
  default     = "backfill-audit-dead-letter-inspect"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", var.audit_dead_letter_subscription_name))
    error_message = "Subscription names are 3-255 characters, start with a letter, and use letters, digits and . _ ~ + % -."
  }
}

variable "audit_max_delivery_attempts" {
  description = "Attempts the audit subscription makes to write a row before it is dead-lettered (and alerted). Nothing turns an audit row away but the table, so few are needed."
  type        = number
  default     = 5

  validation {
    condition     = var.audit_max_delivery_attempts >= 5 && var.audit_max_delivery_attempts <= 100 && floor(var.audit_max_delivery_attempts) == var.audit_max_delivery_attempts
    error_message = "audit_max_delivery_attempts must be a whole number between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "push_ack_deadline_seconds" {
  description = "How long Pub/Sub waits for the worker to answer a push; at least the worker's timeout."
  type        = number
  default     = 600

  validation {
    condition     = var.push_ack_deadline_seconds >= 10 && var.push_ack_deadline_seconds <= 600
    error_message = "push_ack_deadline_seconds must be between 10 and 600 (the Pub/Sub limits)."
  }

  validation {
    condition     = var.push_ack_deadline_seconds >= var.worker_timeout_seconds
    error_message = "push_ack_deadline_seconds must be >= worker_timeout_seconds, or slow successes are redelivered while still running."
  }
}

variable "requests_message_retention_seconds" {
  description = "How long unacknowledged requests are kept; long enough for a weekend outage (default 4 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.requests_message_retention_seconds >= 259200 && var.requests_message_retention_seconds <= 604800
    error_message = "requests_message_retention_seconds must be between 3 days (a weekend outage) and 7 days (the Pub/Sub maximum)."
  }
}

variable "retry_minimum_backoff_seconds" {
  description = "Pub/Sub redelivery backoff after a nack or timeout: lower bound (exponential)."
  type        = number
  default     = 10

  validation {
    condition     = var.retry_minimum_backoff_seconds >= 0 && var.retry_minimum_backoff_seconds <= 600
    error_message = "retry_minimum_backoff_seconds must be between 0 and 600."
  }
}

variable "retry_maximum_backoff_seconds" {
  description = "Pub/Sub redelivery backoff after a nack or timeout: upper bound (exponential)."
  type        = number
  default     = 600

  validation {
    condition     = var.retry_maximum_backoff_seconds >= var.retry_minimum_backoff_seconds && var.retry_maximum_backoff_seconds <= 600
    error_message = "retry_maximum_backoff_seconds must be between retry_minimum_backoff_seconds and 600."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries before Pub/Sub dead-letters a message; the worker dead-letters a request waiting on a dependency itself on the last one. (BACKFILL_MAX_DELIVERY_ATTEMPTS). High on purpose: see the validation."
  type        = number
  default     = 60

  # Cloud Run answers 429 when every worker instance is busy, and Pub/Sub counts that as a
  # failed delivery. With a low limit a backlog larger than the worker's capacity would be
  # dead-lettered without ever running, with no reason attached. The worker dead-letters real
  # failures itself, at once and with a reason, so Pub/Sub's limit is only the net for
  # deliveries that never reach the code (429, timeouts, crashes): 50 attempts with backoff up
  # to 600 s keep a turned-away request alive for hours. 100 is Pub/Sub's maximum.
  validation {
    condition     = var.max_delivery_attempts >= 50 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number between 50 (so overload 429s do not dead-letter healthy requests) and 100 (the Pub/Sub maximum)."
  }
}

variable "dependency_wait_seconds" {
  description = "How long a request waits for an upstream processor before it is dead-lettered with the reason. (BACKFILL_DEPENDENCY_WAIT_SECONDS). Counted from when the request was made."
  type        = number
  default     = 7200

  validation {
    condition     = var.dependency_wait_seconds > 0
    error_message = "dependency_wait_seconds must be greater than 0."
  }

  validation {
    condition     = var.dependency_wait_seconds < var.requests_message_retention_seconds
    error_message = "dependency_wait_seconds must be shorter than requests_message_retention_seconds, or Pub/Sub drops a waiting request before the worker can dead-letter it with a reason."
  }
}

# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------

variable "build_dir" {
  description = "Directory holding detector.zip and worker.zip from `make package` (default: ../build next to this module)."
  type        = string
  default     = null
}

variable "sources_bucket_name" {
  description = "Bucket for the function source archives (default: <project_id>-backfill-sources)."
  type        = string
  default     = null
}

variable "source_archive_retention_days" {
  description = "Days a replaced source archive is kept (as a noncurrent version) for rollbacks."
  type        = number
  default     = 30

  validation {
    condition     = var.source_archive_retention_days >= 1
    error_message = "source_archive_retention_days must be at least 1."
  }
}

variable "backfill_timezone" {
  description = "Time zone in which \"today\" is computed (game dates are US Eastern). (BACKFILL_TIMEZONE)."
  type        = string
  default     = "America/New_York"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.backfill_timezone))
    error_message = "backfill_timezone must be an IANA time zone name such as America/New_York."
  }
}

variable "detector_function_name" {
  description = "Name of the detector function."
  type        = string
  default     = "backfill-detector"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.detector_function_name))
    error_message = "Function names are lowercase letters, digits and hyphens, at most 50 characters."
  }
}

variable "detector_ingress" {
  description = "Detector ingress. ALLOW_INTERNAL_ONLY admits Cloud Scheduler in this project; ALLOW_ALL lets an operator curl it (an identity token is still required)."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"], var.detector_ingress)
    error_message = "detector_ingress must be ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB or ALLOW_ALL."
  }
}

variable "detector_max_instances" {
  description = "Maximum detector instances (one detection pass at a time is enough)."
  type        = number
  default     = 1

  validation {
    condition     = var.detector_max_instances >= 1 && var.detector_max_instances <= 100
    error_message = "detector_max_instances must be between 1 and 100."
  }
}

variable "detector_concurrency" {
  description = "Requests one detector instance handles at once (more than 1 gives the instance a full vCPU)."
  type        = number
  default     = 1

  validation {
    condition     = var.detector_concurrency >= 1 && var.detector_concurrency <= 1000
    error_message = "detector_concurrency must be between 1 and 1000."
  }
}

variable "detector_memory" {
  description = "Memory of a detector instance, e.g. 512Mi or 1Gi."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.detector_memory))
    error_message = "detector_memory must look like 512Mi or 1Gi."
  }
}

variable "detector_timeout_seconds" {
  description = "Detector request timeout; Cloud Scheduler waits this long plus 30 s (at most 30 minutes)."
  type        = number
  default     = 540

  validation {
    condition     = var.detector_timeout_seconds >= 60 && var.detector_timeout_seconds <= 1800
    error_message = "detector_timeout_seconds must be between 60 and 1800 (Cloud Scheduler's HTTP deadline)."
  }
}

variable "worker_function_name" {
  description = "Name of the worker function."
  type        = string
  default     = "backfill-worker"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.worker_function_name))
    error_message = "Function names are lowercase letters, digits and hyphens, at most 50 characters."
  }
}

variable "worker_max_instances" {
  description = "Maximum worker instances. Instances x concurrency caps how many dates are filled at once: the backfill's rate limit."
  type        = number
  default     = 5

  validation {
    condition     = var.worker_max_instances >= 1 && var.worker_max_instances <= 1000
    error_message = "worker_max_instances must be between 1 and 1000."
  }
}

variable "worker_concurrency" {
  description = "Requests one worker instance handles at once (more than 1 gives the instance a full vCPU)."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_concurrency >= 1 && var.worker_concurrency <= 1000
    error_message = "worker_concurrency must be between 1 and 1000."
  }
}

variable "worker_memory" {
  description = "Memory of a worker instance, e.g. 512Mi or 1Gi."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.worker_memory))
    error_message = "worker_memory must look like 512Mi or 1Gi."
  }
}

variable "worker_timeout_seconds" {
  description = "Worker request timeout. Its retry budget (BACKFILL_RETRY_BUDGET_SECONDS) is this minus 60 s."
  type        = number
  default     = 540

  validation {
    condition     = var.worker_timeout_seconds >= 120 && var.worker_timeout_seconds <= 600
    error_message = "worker_timeout_seconds must be between 120 (a 60 s retry budget) and 600 (the largest Pub/Sub ack deadline)."
  }
}

# ---------------------------------------------------------------------------------------------
# Scheduler
# ---------------------------------------------------------------------------------------------

variable "scheduler_job_name" {
  description = "Name of the Cloud Scheduler job that runs the detector."
  type        = string
  default     = "backfill-detector-daily"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,500}$", var.scheduler_job_name))
    error_message = "scheduler_job_name uses letters, digits, _ and - only."
  }
}

variable "detector_schedule" {
  description = "Cron schedule of the detector, in scheduler_time_zone (default: daily at 02:00)."
  type        = string
  default     = "0 2 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.detector_schedule))) == 5
    error_message = "detector_schedule must be a five-field cron expression."
  }
}

variable "stall_check_job_name" {
  description = "Name of the Cloud Scheduler job that checks for stalled runs."
  type        = string
  default     = "backfill-stall-check"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,500}$", var.stall_check_job_name))
    error_message = "stall_check_job_name uses letters, digits, _ and - only."
  }
}

variable "stall_check_schedule" {
  description = "Cron schedule of the stall check, a light detector call that publishes nothing (default: every 15 minutes); a stalled run is noticed within this interval."
  type        = string
  default     = "*/15 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.stall_check_schedule))) == 5
    error_message = "stall_check_schedule must be a five-field cron expression."
  }
}

variable "scheduler_time_zone" {
  description = "Time zone of detector_schedule (the original cron ran in America/Los_Angeles)."
  type        = string
  default     = "America/Los_Angeles"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.scheduler_time_zone))
    error_message = "scheduler_time_zone must be an IANA time zone name."
  }
}

variable "scheduler_paused" {
  description = "Create the scheduler job paused (detection then runs only by hand)."
  type        = bool
  default     = false
}

variable "scheduler_retry_count" {
  description = "Times Cloud Scheduler retries a failed detection run (backoff 60 s to 600 s)."
  type        = number
  default     = 2

  validation {
    condition     = var.scheduler_retry_count >= 0 && var.scheduler_retry_count <= 5
    error_message = "scheduler_retry_count must be between 0 and 5."
  }
}

variable "detector_lookback_days" {
  description = "Dates before today a detection checks by default. (BACKFILL_LOOKBACK_DAYS). Long windows are cheap and catch long gaps."
  type        = number
  default     = 30

  validation {
    condition     = var.detector_lookback_days >= 1 && var.detector_lookback_days <= 3650
    error_message = "detector_lookback_days must be between 1 and 3650."
  }
}

variable "detector_max_messages" {
  description = "Most requests one detection pass publishes; the rest wait for the next pass."
  type        = number
  default     = 200

  validation {
    condition     = var.detector_max_messages >= 1 && var.detector_max_messages <= 10000
    error_message = "detector_max_messages must be between 1 and 10000."
  }
}

# ---------------------------------------------------------------------------------------------
# BigQuery
# ---------------------------------------------------------------------------------------------

variable "bigquery_location" {
  description = "Location of the audit dataset (and of the sandbox datasets); use the warehouse's location."
  type        = string
  default     = "US"
}

variable "audit_dataset_id" {
  description = "Dataset of Backfill's own tables: backfill_log, quarantine, backfill_runs. (BACKFILL_AUDIT_DATASET). Created here."
  type        = string
  default     = "backfill_ops"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.audit_dataset_id)) && length(var.audit_dataset_id) <= 1024
    error_message = "Dataset ids are 1-1024 letters, digits and underscores."
  }
}

variable "audit_retention_days" {
  description = "Days of backfill_log partitions kept."
  type        = number
  default     = 400

  validation {
    condition     = var.audit_retention_days >= 1
    error_message = "audit_retention_days must be at least 1."
  }
}

variable "raw_dataset_id" {
  description = "Dataset of the Phase 2 tables the built-in processors read. (BACKFILL_RAW_DATASET). An existing dataset, read by both functions."
  type        = string
  default     = "nba_raw"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.raw_dataset_id)) && length(var.raw_dataset_id) <= 1024
    error_message = "Dataset ids are 1-1024 letters, digits and underscores."
  }
}

variable "analytics_dataset_id" {
  description = "Dataset of the Phase 3 tables the built-in processors write. (BACKFILL_ANALYTICS_DATASET). An existing dataset, read by the detector and written by the worker."
  type        = string
  default     = "nba_analytics"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.analytics_dataset_id)) && length(var.analytics_dataset_id) <= 1024
    error_message = "Dataset ids are 1-1024 letters, digits and underscores."
  }
}

variable "maximum_bytes_billed" {
  description = "Bytes one BigQuery job may bill at most; a job that would bill more fails (BigQuery bills at least 10 MiB per table a query reads, and a delivery's re-check reads its tables in one query: at least 100 MiB). (BACKFILL_MAXIMUM_BYTES_BILLED). Default 10 GiB: a partition-pruned MERGE or scan of a few dates bills megabytes, a full scan of an unpartitioned table far more."
  type        = number
  default     = 10737418240

  validation {
    # BigQuery bills at least 10 MiB per table a query reads, and a delivery's re-check reads
    # a processor's source and target and each dependency's in one query: a lower cap fails it.
    condition     = var.maximum_bytes_billed >= 104857600 && floor(var.maximum_bytes_billed) == var.maximum_bytes_billed
    error_message = "maximum_bytes_billed must be a whole number of bytes, at least 104857600 (100 MiB: BigQuery bills at least 10 MiB per table a query reads, and a delivery's re-check reads up to ten tables in one query)."
  }
}

variable "source_tables" {
  description = "Phase 2 tables of raw_dataset_id the functions read: the schedule and each processor's source. Both functions get read-only access to exactly these tables (never the dataset)."
  type        = list(string)
  default     = ["nbac_schedule", "nbac_team_boxscore", "nbac_gamebook_player_stats"]

  validation {
    condition     = length(var.source_tables) > 0 && length(distinct(var.source_tables)) == length(var.source_tables) && alltrue([for t in var.source_tables : can(regex("^[A-Za-z0-9_]+$", t)) && length(t) <= 1024])
    error_message = "source_tables must be distinct table ids of letters, digits and underscores."
  }
}

variable "target_tables" {
  description = "Phase 3 tables of analytics_dataset_id the processors write. The worker may edit exactly these tables and the detector read them (never the dataset)."
  type        = list(string)
  default     = ["team_offense_game_summary", "team_defense_game_summary", "player_game_summary", "upcoming_team_game_context"]

  validation {
    condition     = length(var.target_tables) > 0 && length(distinct(var.target_tables)) == length(var.target_tables) && alltrue([for t in var.target_tables : can(regex("^[A-Za-z0-9_]+$", t)) && length(t) <= 1024])
    error_message = "target_tables must be distinct table ids of letters, digits and underscores."
  }
}

variable "create_target_tables" {
  description = "Create the target_tables (partitioned by day on game_date, clustered by game_id, schemas from terraform/schemas/<table>.json). Table grants need the tables to exist; set false when the pipeline already has them (or `terraform import` them)."
  type        = bool
  default     = true
}

variable "create_pipeline_datasets" {
  description = "Create the raw and analytics datasets too (sandbox projects only; in production they belong to the pipeline)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the tables this module creates (audit tables, and the target tables when create_target_tables is set) from `terraform destroy`."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------

variable "alerts_enabled" {
  description = "Create the alert policies. With true (the default) plan refuses to go on unless alert_email or notification_channels says who they notify."
  type        = bool
  default     = true

  validation {
    condition     = !var.alerts_enabled || length(var.notification_channels) > 0 || var.alert_email != ""
    error_message = "The alerts would notify nobody: set alert_email or notification_channels, or set alerts_enabled = false to deploy without alerts on purpose."
  }
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) the alerts notify."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels entries must look like projects/PROJECT/notificationChannels/ID."
  }
}

variable "alert_email" {
  description = "If set, an email notification channel is created for the alerts."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be empty or an email address."
  }
}

variable "run_stall_minutes" {
  description = "Minutes without any request of a run ending before the run is flagged as stalled. (BACKFILL_RUN_STALL_MINUTES). The detector logs run_stalled then, and the run-stalled alert fires."
  type        = number
  default     = 60

  validation {
    condition     = var.run_stall_minutes >= 1 && floor(var.run_stall_minutes) == var.run_stall_minutes
    error_message = "run_stall_minutes must be a whole number of at least 1."
  }
}

variable "requests_oldest_unacked_alert_seconds" {
  description = "Alert when the oldest unacknowledged request is older than this."
  type        = number
  default     = 7200

  validation {
    condition     = var.requests_oldest_unacked_alert_seconds >= 300
    error_message = "requests_oldest_unacked_alert_seconds must be at least 300."
  }
}
