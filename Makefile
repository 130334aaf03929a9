PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck clean agent-check

# The install compiles src/ml_connector/intacct/_records.pyx (setup.py): redo it when that changes.
# The agent (agent/, its own distribution) is installed editable beside the connector: the
# connector's tests start real agents, so it is their test dependency, never an import of src/.
$(STAMP): pyproject.toml agent/pyproject.toml setup.py src/ml_connector/intacct/_records.pyx
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
	$(BIN)/pytest -q

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
	rm -f src/ml_connector/intacct/_records.*.so
