# Least privilege: one service account per role, each granted exactly what it needs on the
# narrowest resource that carries the permission. No public members anywhere.

resource "google_service_account" "detector" {
  account_id   = "backfill-detector"
  display_name = "Backfill detector (reads Phase 2/3, publishes requests)"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "worker" {
  account_id   = "backfill-worker"
  display_name = "Backfill worker (runs processors, writes Phase 3 and the audit log)"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "push" {
  account_id   = "backfill-push"
  display_name = "Backfill push subscription (invokes the worker)"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "scheduler" {
  account_id   = "backfill-scheduler"
  display_name = "Backfill scheduler (invokes the detector)"
  depends_on   = [google_project_service.required]
}

resource "google_service_account" "builder" {
  account_id   = "backfill-builder"
  display_name = "Backfill function builds (Cloud Build)"
  depends_on   = [google_project_service.required]
}

locals {
  # Query jobs run in this project; data access is granted per table below.
  detector_project_roles = ["roles/bigquery.jobUser"]
  worker_project_roles   = ["roles/bigquery.jobUser"]
  # A dedicated build identity, so builds work where the default compute account has no rights.
  builder_project_roles = ["roles/logging.logWriter", "roles/artifactregistry.writer"]
}

# --- custom roles: exactly the BigQuery permissions the functions' calls need ----------------
# tests/integration/test_permission_contract.py records every Google API call the functions
# make in a whole cycle and checks each against these grants (tests/terraform/permissions.py
# maps every call to its permission), so a grant removed here or a call added there fails it.

# The worker on each Phase 3 table: read it, MERGE into it, and add Backfill's lineage columns to
# a table the pipeline made before them (tables.update). Never tables.create or tables.delete,
# which table-level roles/bigquery.dataEditor would carry.
resource "google_project_iam_custom_role" "phase3_writer" {
  project     = var.project_id
  role_id     = "backfillPhase3Writer"
  title       = "Backfill Phase 3 writer"
  description = "Read and MERGE into one Phase 3 table, and add Backfill's lineage columns to it. No create, no delete."
  permissions = [
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
  ]

  depends_on = [google_project_service.required]
}

# Both functions on Backfill's own dataset: read its tables and append to them with streaming
# inserts, which document bigquery.datasets.get besides the table's permissions.
resource "google_project_iam_custom_role" "ops_writer" {
  project     = var.project_id
  role_id     = "backfillOpsWriter"
  title       = "Backfill operations tables"
  description = "Read Backfill's own tables (backfill_ops) and append to them with streaming inserts. No create, no delete, no schema change."
  permissions = [
    "bigquery.datasets.get",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]

  depends_on = [google_project_service.required]
}

# --- pipeline tables: exactly the tables Backfill touches, never the datasets --------------
# google_bigquery_dataset_iam_member rewrites the dataset's access list without its authorized
# views (and fights the pipeline's own google_bigquery_dataset_access), so the pipeline's
# datasets get no dataset-level grant at all. Table IAM needs the tables to exist: the Phase 2
# ones do; the Phase 3 ones are created in bigquery.tf when create_target_tables is set.

locals {
  # Phase 3 table ids, taken from the created tables when Terraform creates them, so each
  # grant waits for its table.
  target_table_ids = var.create_target_tables ? { for name, table in google_bigquery_table.target : name => table.table_id } : { for name in var.target_tables : name => name }
}

resource "google_bigquery_table_iam_member" "detector_reads_sources" {
  for_each = toset(var.source_tables)

  dataset_id = local.raw_dataset_id
  table_id   = each.key
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.detector.member
}

resource "google_bigquery_table_iam_member" "worker_reads_sources" {
  for_each = toset(var.source_tables)

  dataset_id = local.raw_dataset_id
  table_id   = each.key
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.worker.member
}

resource "google_bigquery_table_iam_member" "detector_reads_targets" {
  for_each = toset(var.target_tables)

  dataset_id = local.analytics_dataset_id
  table_id   = local.target_table_ids[each.key]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.detector.member
}

resource "google_bigquery_table_iam_member" "worker_writes_targets" {
  for_each = toset(var.target_tables)

  dataset_id = local.analytics_dataset_id
  table_id   = local.target_table_ids[each.key]
  role       = google_project_iam_custom_role.phase3_writer.name
  member     = google_service_account.worker.member
}

# The dataset-level grants earlier versions made. Destroying them would rewrite the datasets'
# access lists (dropping authorized views) once more, so Terraform only forgets them; the
# pipeline's owners remove the four entries with their own tooling (terraform/README.md).
removed {
  from = google_bigquery_dataset_iam_member.detector_reads_raw
  lifecycle {
    destroy = false
  }
}

removed {
  from = google_bigquery_dataset_iam_member.detector_reads_analytics
  lifecycle {
    destroy = false
  }
}

removed {
  from = google_bigquery_dataset_iam_member.worker_reads_raw
  lifecycle {
    destroy = false
  }
}

removed {
  from = google_bigquery_dataset_iam_member.worker_writes_analytics
  lifecycle {
    destroy = false
  }
}

# --- detector: publishes requests -----------------------------------------------------------

resource "google_project_iam_member" "detector" {
  for_each = toset(local.detector_project_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.detector.member
}

# Reads the audit trail and the quarantine, records its runs (streaming inserts). backfill_ops
# is Backfill's own dataset (no authorized views of the pipeline's to rewrite), so the grant is
# on the dataset, where bigquery.datasets.get lives.
resource "google_bigquery_dataset_iam_member" "detector_ops" {
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = google_project_iam_custom_role.ops_writer.name
  member     = google_service_account.detector.member
}

resource "google_pubsub_topic_iam_member" "detector_publishes_requests" {
  topic  = google_pubsub_topic.requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.detector.member
}

# --- worker: writes the audit tables, dead-letters ------------------------------------------

resource "google_project_iam_member" "worker" {
  for_each = toset(local.worker_project_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.worker.member
}

# Reads and appends to (streaming inserts) Backfill's own tables: the audit log, the quarantine
# and the runs. On the dataset, as the detector's.
resource "google_bigquery_dataset_iam_member" "worker_ops" {
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = google_project_iam_custom_role.ops_writer.name
  member     = google_service_account.worker.member
}

resource "google_pubsub_topic_iam_member" "worker_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

# After a write, the worker publishes the next links of the chain (its dependents, the
# request's followers) to the requests topic.
resource "google_pubsub_topic_iam_member" "worker_publishes_follow_ups" {
  topic  = google_pubsub_topic.requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

# --- invokers: only the push identity calls the worker, only the scheduler the detector ---

resource "google_cloud_run_v2_service_iam_member" "push_invokes_worker" {
  location = var.region
  name     = google_cloudfunctions2_function.worker.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_detector" {
  location = var.region
  name     = google_cloudfunctions2_function.detector.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# --- Pub/Sub service agent: forwards dead letters, acks them here, mints push tokens -------

resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_requests_subscriber" {
  subscription = google_pubsub_subscription.requests_push.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_service_account_iam_member" "pubsub_agent_push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- builder: writes build logs and images; reads only the function source buckets --------

resource "google_project_iam_member" "builder" {
  for_each = toset(local.builder_project_roles)

  project = var.project_id
  role    = each.value
  member  = google_service_account.builder.member
}

resource "google_project_iam_member" "builder_reads_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.builder.member

  # Cloud Functions stages each build's source in its own gcf-v2-sources-* bucket.
  condition {
    title       = "function-source-buckets-only"
    description = "Read only the Cloud Functions source staging buckets and this module's source bucket."
    expression = join(" || ", [
      "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")",
      "resource.name == \"projects/_/buckets/${google_storage_bucket.sources.name}\"",
      "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.sources.name}/\")",
    ])
  }
}
