# The BigQuery API emulator's own venv (.venv-bqemu), included by the Makefile. `make
# integration` (so `make test`) builds it first; the stamp makes it a no-op until the pins change.
BQEMU_VENV  := .venv-bqemu
BQEMU_STAMP := $(BQEMU_VENV)/.installed
BQEMU_DIR   := tests/bigquery_emulator

.PHONY: bqemu-venv

bqemu-venv: $(BQEMU_STAMP)

integration: $(BQEMU_STAMP)

$(BQEMU_STAMP): $(BQEMU_DIR)/requirements.txt $(BQEMU_DIR)/install_spatial.py
	test -x $(BQEMU_VENV)/bin/python || $(PYTHON) -m venv $(BQEMU_VENV)
	$(BQEMU_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(BQEMU_DIR)/requirements.txt
	mkdir -p $(BQEMU_VENV)/home
	HOME=$(CURDIR)/$(BQEMU_VENV)/home $(BQEMU_VENV)/bin/python $(BQEMU_DIR)/install_spatial.py
	touch $@
