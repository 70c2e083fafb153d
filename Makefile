# Every target creates .venv itself: a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Phoenix end-to-end test's receiver, in a virtual environment of its own (its pins clash
# with ours): installed here, never by a test.
PHOENIX_VERSION := 20.26.1
PHOENIX_VENV := .venv-phoenix
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed-$(PHOENIX_VERSION)

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(PHOENIX_STAMP):
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install --quiet 'arize-phoenix==$(PHOENIX_VERSION)'
	touch $(PHOENIX_STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.support_bot.demo

test: $(STAMP) $(PHOENIX_STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check llmtrace tests bench examples scripts
	$(BIN)/ruff format --check llmtrace tests bench examples scripts
	$(BIN)/mypy
	$(BIN)/python scripts/check_layout.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) llmtrace.duckdb llmtrace.duckdb.* build *.egg-info  # .* the store's .wal, .spool/, .waiting
