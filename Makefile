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
# pip installs torch (only pip's configuration finds that wheel: find-links, local indexes and a
# constraints file in /etc/xdg/pip) and uv; uv then installs everything else, about 3 minutes
# faster than pip on a clean clone (benchmarks/results.md, "CI and test-suite time").
# .ci/uv_install.py hands uv pip's index configuration and pins torch to the build pip put in,
# so uv cannot replace it. If uv fails (no uv wheel reachable, an index uv cannot read, a
# resolution it refuses), plain pip installs the same requirements: slower, but it always worked.
EXTRAS := .[dev,torch,ray,mlflow,iceberg,dvc]
TORCH_PIN := $(VENV)/torch-pin.txt
$(STAMP): $(BIN)/python pyproject.toml .ci/uv_install.py reprodiag/retrain/pipconfig.py
	$(BIN)/pip install --quiet "torch==2.13.0" "uv>=0.5"
	$(BIN)/python -c "from importlib.metadata import version as v; print('torch==' + v('torch'))" \
	  > $(TORCH_PIN)
	$(BIN)/python .ci/uv_install.py $(TORCH_PIN) -e "$(EXTRAS)" \
	  || { echo "make venv: uv could not install the extras; installing them with pip instead"; \
	       $(BIN)/pip install --quiet -e "$(EXTRAS)"; }
	$(BIN)/python -c "from importlib.metadata import version as v; \
	  assert v('torch').split('+')[0] == '2.13.0', 'torch ' + v('torch') + ' is not 2.13.0'"
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

# Two test processes on this 2-core machine (TEST_WORKERS=1 for one): most tests wait on the
# workers, tables and servers they start, so two keep both cores busy. The Ray tests stay in one
# process (tests/conftest.py: xdist group "ray").
TEST_WORKERS ?= 2

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15

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
