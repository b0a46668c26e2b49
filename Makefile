# Set-up and the two everyday commands (see README.md):
#   make example   install, then run the example training sweep locally
#   make test      install, then run the whole test suite
#   make screenshots   re-take docs/*.png from the Airflow UI test (needs chromium)
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
UV := python3 -m uv

.PHONY: example test install lint screenshots

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode
	touch $@

example: install
	$(PY) dags/train_sweep.py run

test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; fi; \
	exit $$rc

lint: install
	$(VENV)/bin/ruff check provider tests bench dags
	$(VENV)/bin/lint-imports --no-cache

screenshots: install
	AIRSTEP_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest tests/e2e/test_airflow_ui.py
