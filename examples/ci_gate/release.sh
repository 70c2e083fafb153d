#!/usr/bin/env bash
# Promote the candidate against the production release kept in a bundle, on a CI machine that
# starts with an empty store: the baseline is imported, never re-run.
#   first time (no bundle yet): the candidate is gated on absolute bounds and becomes production
#   later: it is gated, paired, against the imported production run, and promoted only on pass
# On promotion the new production release is written back to the bundle; keep that file as a
# CI artifact or commit it. Exit 0 promoted, 1 refused (every reason printed), 2 bad input.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-gpt-4o-mini}"
CANDIDATE_PROMPT="${CANDIDATE_PROMPT:-v2}"
EPOCHS="${EPOCHS:-2}"
BUNDLE="${PRODUCTION_BUNDLE:-production.bundle}"
NAME="${RELEASE_NAME:-qa-bot}"
llmtrace() { "$PYTHON" -m llmtrace "$@"; }

if [ -f "$BUNDLE" ]; then
  llmtrace bundle import "$BUNDLE"
fi
candidate=$(llmtrace eval suite:suite --model "$MODEL" \
  --prompt-version "$CANDIDATE_PROMPT" --epochs "$EPOCHS" | tail -n 1)
release=$(llmtrace register "$candidate" --name "$NAME" --by ci | tail -n 1)
llmtrace promote "$release" --to production --config release.yaml --by ci \
  --reason "prompt $CANDIDATE_PROMPT (${GITHUB_SHA:-local})"
llmtrace releases "$NAME"
mkdir -p "$(dirname "$BUNDLE")"
llmtrace bundle export "$release" --out "$BUNDLE"
