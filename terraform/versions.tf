terraform {
  # 1.9 is the first release whose variable validations may refer to other variables (the
  # `removed` blocks of iam.tf need 1.7).
  required_version = ">= 1.9"

  required_providers {
    google = {
      source = "hashicorp/google"
      # One major version: a new major may rename or remove arguments, so it is adopted on
      # purpose, never by a fresh `terraform init`. 7.x because it is the current major (the one
      # that gets fixes); its upgrade guide changes nothing this module uses (service_config.service
      # is only read, disable_on_destroy is set explicitly, no bucket retention_period).
      version = "~> 7.0"
    }
    # time_sleep: waiting for the builder's IAM grants to propagate before the first build.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
