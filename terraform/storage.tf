# Function source archives (`make package`). The object name carries the archive's MD5, so a
# code change creates a new object and Terraform redeploys the function; an unchanged build
# (package.py writes deterministic zips) changes nothing.

locals {
  build_dir = coalesce(var.build_dir, "${path.module}/../build")
  function_archives = {
    detector = "${local.build_dir}/detector.zip"
    worker   = "${local.build_dir}/worker.zip"
  }
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Only Terraform writes this bucket and only Cloud Build reads it; Cloud Audit Logs record access, and a dedicated log bucket would itself need one.
  name                        = coalesce(var.sources_bucket_name, "${var.project_id}-backfill-sources")
  location                    = var.region
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Old archives are only useful for a rollback; keep the last few versions for a while.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.source_archive_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_storage_bucket_object" "source" {
  for_each = local.function_archives

  name   = "${each.key}/${each.key}-${filemd5(each.value)}.zip"
  bucket = google_storage_bucket.sources.name
  source = each.value
}
