# Deployment targets, included by the main Makefile (which defines PY := .venv/bin/python).
#   make package    build/functions/{detector,worker}/ and build/{detector,worker}.zip
#   make tf-check   terraform fmt -check + checkov (in its own venv, .venv-checkov)
#   make tf-plan    package, then terraform plan
#   make deploy     package, then terraform init + apply
#   make lock       terraform/requirements.lock (the functions' pinned dependencies)
#   make schemas    terraform/schemas/*.json (the Phase 3 tables' schemas, from the processors)
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

# terraform/requirements.lock, copied by package.py as each function's requirements.txt: the
# runtime dependencies (pyproject's [project].dependencies, never the `local` extra) and all
# they pull in, pinned with hashes for CPython 3.11 on Linux x86_64 (the python311 runtime).
# Resolved against pip's default public index, the one Cloud Build installs from, so the
# machine's own pip configuration (mirrors, find-links, constraints) is set aside. pip-compile
# keeps the existing pins that still fit; `make lock LOCK_FLAGS=--upgrade` moves to the newest.
LOCK_PYTHON ?= python3.11
LOCK_FLAGS  ?=
LOCK_ENV    ?= env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null
LOCK_VENV   := .venv-lock
PIP_COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-trusted-host --no-emit-find-links

.PHONY: lock
lock:
	rm -rf $(LOCK_VENV)
	$(LOCK_PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_ENV) $(LOCK_VENV)/bin/python -m pip install --quiet "pip-tools>=7.4,<8"
	$(LOCK_ENV) CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) \
		$(LOCK_FLAGS) --output-file $(TF_DIR)/requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

# terraform/schemas/<table>.json: the Phase 3 tables Terraform creates (create_target_tables),
# generated from the processors. Rerun after a processor's columns change.
.PHONY: schemas
schemas:
	$(PY) $(TF_DIR)/schemas.py
