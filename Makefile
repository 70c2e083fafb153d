# Every target creates .venv itself: a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.support_bot.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check llmtrace tests bench examples
	$(BIN)/ruff format --check llmtrace tests bench examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) llmtrace.duckdb llmtrace.duckdb.* build *.egg-info  # .* the store's .wal, .spool/, .waiting
