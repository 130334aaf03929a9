PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: tests mostly wait on servers and subprocesses, so more than the cores.
TEST_WORKERS ?= 3

.PHONY: demo test lint typecheck clean browser agent-check

# The install compiles src/ml_connector/intacct/gateway/_records.pyx (setup.py): redo it when that changes.
# The agent (agent/, its own distribution) is installed editable beside the connector: the
# connector's tests start real agents, so it is their test dependency, never an import of src/.
$(STAMP): pyproject.toml agent/pyproject.toml setup.py src/ml_connector/intacct/gateway/_records.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./agent -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ml-connector demo

test: $(STAMP)
	$(BIN)/ruff check src agent/src tests bench setup.py
	$(BIN)/ruff format --check src agent/src tests bench setup.py
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS)

# Chromium from Debian's packages for tests/ops/test_dashboard_browser.py (skipped without it).
# Retries while another apt/dpkg holds the lock.
browser:
	@command -v chromium >/dev/null || for i in 1 2 3 4 5 6 7 8 9 10; do \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		&& break; echo "dpkg busy; retrying in 15 s"; sleep 15; done

# The agent alone in a fresh venv (wheels only), init + serve, and the connector's check against
# it in all three auth modes; about a minute, so CI runs it once (.ci/run), not pytest.
agent-check: $(STAMP)
	.ci/agent_fresh_venv.sh

lint: $(STAMP)
	$(BIN)/ruff check src agent/src tests bench setup.py
	$(BIN)/ruff format --check src agent/src tests bench setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
	rm -f src/ml_connector/intacct/gateway/_records.*.so
