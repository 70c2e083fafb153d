"""The README's production gates file is one the trace gate accepts, as written."""

from __future__ import annotations

import re
from pathlib import Path

from llmtrace.evals.production.config import load_trace_config
from tests.conftest import ROOT


def test_the_readme_prod_yaml_loads(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n# prod.yaml[^\n]*\n(.*?)```", readme, re.S)
    assert block is not None
    path = tmp_path / "prod.yaml"
    path.write_text(block.group(1))
    config = load_trace_config(path)
    assert [rule.metric for rule in config.gates] == [
        "latency.p95_ms",
        "errors.rate",
        "guardrail.pii.block_rate",
    ]
    assert config.drift is not None and config.drift.psi_max == 0.2
