# Deployment targets, included by the main Makefile (which defines PY := .venv/bin/python).
#   make package    build/functions/{detector,worker}/ and build/{detector,worker}.zip
#   make tf-check   terraform fmt -check + checkov (in its own venv, .venv-checkov)
#   make tf-plan    package, then terraform plan
#   make deploy     package, then terraform init + apply
# Works on its own too: make -f terraform/terraform.mk tf-check

PY              ?= .venv/bin/python
TERRAFORM       ?= terraform
TF_DIR          ?= terraform
BUILD_DIR       ?= build
TF_APPLY_FLAGS  ?=
CHECKOV_PYTHON  ?= python3
CHECKOV_VERSION ?= >=3.2,<4
CHECKOV_VENV    := .venv-checkov
CHECKOV         := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.stamp-checkov
# --skip-download: no calls to the Prisma Cloud API (offline, and no guideline fetch).
CHECKOV_FLAGS   ?= --framework terraform --skip-download --compact --quiet

.PHONY: package tf-check tf-fmt tf-plan deploy checkov-venv

package:
	$(PY) $(TF_DIR)/package.py --out $(BUILD_DIR)

# checkov pins many packages of its own, so it never shares the project's venv. The stamp
# makes this a no-op until the pin below (this file) changes.
checkov-venv: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): $(TF_DIR)/terraform.mk
	test -x $(CHECKOV_VENV)/bin/python || $(CHECKOV_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "checkov$(CHECKOV_VERSION)"
	touch $@

tf-check: $(CHECKOV_STAMP)
	$(TERRAFORM) fmt -check -recursive $(TF_DIR)
	$(CHECKOV) -d $(TF_DIR) $(CHECKOV_FLAGS)

tf-fmt:
	$(TERRAFORM) fmt -recursive $(TF_DIR)

tf-plan: package
	$(TERRAFORM) -chdir=$(TF_DIR) init -input=false
	$(TERRAFORM) -chdir=$(TF_DIR) plan

deploy: package
	$(TERRAFORM) -chdir=$(TF_DIR) init -input=false
	$(TERRAFORM) -chdir=$(TF_DIR) apply $(TF_APPLY_FLAGS)
