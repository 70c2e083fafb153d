#!/usr/bin/env bash
# Gate a candidate triple against production, the way the GitHub workflow runs it on a pull
# request. CI machines start with an empty store, so production comes from a bundle
# (release.sh writes it on every promotion; the workflow keeps it as an artifact):
#   with the bundle: import it and gate against the production release's run, which is
#                    never re-run here;
#   without one (no release yet, or trying it locally): evaluate BASELINE_PROMPT here too.
# Writes $REPORTS/gate.{xml,md,json} and $REPORTS/report.html (one self-contained file);
# REPORTS defaults to reports/ beside this script.
# Exit code: 0 pass or warn, 1 a gate failed, 2 bad input or runs that cannot be compared.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
MODEL="${MODEL:-gpt-4o-mini}"
BASELINE_PROMPT="${BASELINE_PROMPT:-v1}"
CANDIDATE_PROMPT="${CANDIDATE_PROMPT:-v2}"
EPOCHS="${EPOCHS:-2}"
BUNDLE="${PRODUCTION_BUNDLE:-production.bundle}"
NAME="${RELEASE_NAME:-qa-bot}"
REPORTS="${REPORTS:-reports}"
llmtrace() { "$PYTHON" -m llmtrace "$@"; }
mkdir -p "$REPORTS"

if [ -f "$BUNDLE" ]; then
  llmtrace bundle import "$BUNDLE"
  # releases -f csv: version,release_id,stage,model,prompt_version,dataset_version,run_id,...
  baseline=$(llmtrace releases "$NAME" -f csv | awk -F, '$3 == "production" { print $7 }')
  if [ -z "$baseline" ]; then
    echo "$BUNDLE holds no production release named $NAME" >&2
    exit 2
  fi
  echo "baseline: production run $baseline of $NAME (imported from $BUNDLE, not re-run)"
else
  echo "no production bundle at $BUNDLE: evaluating the baseline prompt $BASELINE_PROMPT here"
  baseline=$(llmtrace eval suite:suite --model "$MODEL" \
    --prompt-version "$BASELINE_PROMPT" --epochs "$EPOCHS" | tail -n 1)
fi
candidate=$(llmtrace eval suite:suite --model "$MODEL" \
  --prompt-version "$CANDIDATE_PROMPT" --epochs "$EPOCHS" | tail -n 1)

llmtrace gate --config gates.yaml \
  --candidate "$candidate" --baseline "$baseline" \
  --junit "$REPORTS/gate.xml" --markdown "$REPORTS/gate.md" --json "$REPORTS/gate.json" \
  --html "$REPORTS/report.html" ${STRICT:+--strict}
