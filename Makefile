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
# The OpenTelemetry JS SDK and its OTLP exporters (pinned in bench/node/package-lock.json), for
# serve's test and ingest bench with real Node exporters: installed here, never by a test or
# the bench. Without npm, make test still passes and that one test says why it skipped.
NODE_DIR := .bench-node
NODE_STAMP := $(NODE_DIR)/.installed

.PHONY: demo test bench lint clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(PHOENIX_STAMP):
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install --quiet 'arize-phoenix==$(PHOENIX_VERSION)'
	touch $(PHOENIX_STAMP)

# Without npm the bench says so and leaves the Node figures out.
$(NODE_STAMP): bench/node/package.json bench/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(NODE_DIR) && cp bench/node/package.json bench/node/package-lock.json $(NODE_DIR)/ && \
	  npm ci --prefix $(NODE_DIR) --no-audit --no-fund --silent && touch $(NODE_STAMP) || \
	  echo "the OpenTelemetry JS SDK could not be installed into $(NODE_DIR): no Node figures"; \
	else \
	  echo "npm is missing: the serve bench leaves out the Node exporters (install node and npm)"; \
	fi

demo: $(STAMP)
	$(BIN)/python -m examples.support_bot.demo

# The browser test (tests/test_report_html_browser.py) opens the HTML report in Debian's
# headless chromium. Install it when it is missing and we are root with apt-get; otherwise say
# so, and the test skips with its reason. This never fails `make test`, and costs one
# `command -v` when chromium is there.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser test (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	      >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        chromium >/dev/null 2>&1; } || \
	      echo "chromium could not be installed: the browser test will skip"; \
	  else \
	    echo "chromium is missing (install it as root: apt-get install chromium): the browser test will skip"; \
	  fi; \
	}

test: $(STAMP) $(PHOENIX_STAMP) $(NODE_STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check llmtrace tests bench examples scripts
	$(BIN)/ruff format --check llmtrace tests bench examples scripts
	$(BIN)/mypy
	$(BIN)/python scripts/check_layout.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) $(NODE_DIR) llmtrace.duckdb llmtrace.duckdb.* build *.egg-info  # .* the store's .wal, .spool/, .waiting
