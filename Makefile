# Set-up and the two everyday commands (see README.md):
#   make example   install, then run the example training sweep locally
#   make test      install, then run the whole test suite (Metaflow's side venv included)
#   make screenshots   re-take docs/*.png from the Airflow UI test (needs chromium)
#   make torch     add torch (CPU) to .venv, for the distributed-step tests and example
UV_VERSION := 0.13.9
# torch (with numpy, which it looks for) is never a dependency of airstep: the tests and
# dags/distributed_training.py use it; its CPU wheel is in WHEELS on these machines
TORCH_VERSION := 2.13.0
NUMPY_VERSION := 2.4.6
WHEELS ?= /opt/wheels
VENV := .venv
PY := $(VENV)/bin/python
UV := python3 -m uv
# Metaflow itself, in a venv of its own (never in .venv): the side-by-side
# compatibility tests run the same flows on it and on airstep.
METAFLOW_VERSION := 2.19.39
METAFLOW_VENV := .venv-metaflow

.PHONY: example test install metaflow-venv lint screenshots torch

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode
	touch $@

metaflow-venv: $(METAFLOW_VENV)/.installed-$(METAFLOW_VERSION)

# tests/metaflow-requirements.txt pins Metaflow and everything it needs
$(METAFLOW_VENV)/.installed-$(METAFLOW_VERSION): tests/metaflow-requirements.txt
	python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	rm -rf $(METAFLOW_VENV)
	$(UV) venv --quiet --python python3 $(METAFLOW_VENV)
	$(UV) pip install --quiet --python $(METAFLOW_VENV)/bin/python --compile-bytecode \
		--requirement tests/metaflow-requirements.txt
	touch $@

# after install: `uv sync` removes what the lock file does not list
torch: $(VENV)/.torch

$(VENV)/.torch: $(VENV)/.installed
	$(UV) pip install --python $(PY) --compile-bytecode --find-links $(WHEELS) \
		torch==$(TORCH_VERSION) numpy==$(NUMPY_VERSION)
	touch $@

example: install
	$(PY) dags/train_sweep.py run

test: install metaflow-venv torch
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; fi; \
	exit $$rc

lint: install
	$(VENV)/bin/ruff check provider tests bench dags
	$(VENV)/bin/lint-imports --no-cache

screenshots: install
	AIRSTEP_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest tests/e2e/test_airflow_ui.py
