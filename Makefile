# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-fast lint gold venv browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is pinned exactly here: a CPU wheel of 2.13.0 lies on this machine's disk; any other
# spec pulls a multi-GB CUDA build. The package itself declares a wider range for users.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev,torch,ray,mlflow,iceberg,dvc]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/reprodiag demo --out reports/demo

# Headless Chromium for tests/test_browser.py (Debian's package; CI runs as root on Debian).
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check reprodiag tests
	$(BIN)/mypy reprodiag
	$(BIN)/lint-imports

gold: $(STAMP)
	REPRODIAG_REFRESH_GOLD=1 $(BIN)/python -m pytest -q tests -k gold

clean:
	rm -rf $(VENV) .pytest_cache
