#!/usr/bin/env bash
# Run the baseline and candidate triples, then the gate. The GitHub workflow runs exactly this.
# Exit code: 0 pass or warn, 1 a gate failed, 2 bad input or runs that cannot be compared.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-gpt-4o-mini}"
BASELINE_PROMPT="${BASELINE_PROMPT:-v1}"
CANDIDATE_PROMPT="${CANDIDATE_PROMPT:-v2}"
EPOCHS="${EPOCHS:-2}"
mkdir -p reports

baseline=$("$PYTHON" -m llmtrace eval suite:suite --model "$MODEL" \
  --prompt-version "$BASELINE_PROMPT" --epochs "$EPOCHS" | tail -n 1)
candidate=$("$PYTHON" -m llmtrace eval suite:suite --model "$MODEL" \
  --prompt-version "$CANDIDATE_PROMPT" --epochs "$EPOCHS" | tail -n 1)

"$PYTHON" -m llmtrace gate --config gates.yaml \
  --candidate "$candidate" --baseline "$baseline" \
  --junit reports/gate.xml --markdown reports/gate.md --json reports/gate.json \
  --html reports/gate.html ${STRICT:+--strict}
