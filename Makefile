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

# Headless Chromium for tests/test_browser.py (Debian's package; CI runs as root on Debian and
# installs it). Without root nothing is installed: the browser tests then skip and say what they
# need (install chromium, or point REPRODIAG_CHROMIUM at a Chrome/Chromium binary).
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || command -v google-chrome >/dev/null || [ -n "$$REPRODIAG_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
	  echo "make browser: Chromium not found and not root: not installing it;" \
	    "tests/test_browser.py will skip (install chromium, or set REPRODIAG_CHROMIUM=/path/to/chrome)"; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -q --durations=15

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
