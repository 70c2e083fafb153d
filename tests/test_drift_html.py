"""``llmtrace drift --html``: the drift report on the shared renderer (the gate report's page
shell and styles), parsed: every feature's row with its decision in words, a bars plot per
feature, no external reference."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmtrace.cli import main
from llmtrace.evals.html._style import STYLESHEET
from llmtrace.evals.html.bars import CountSeries, share_bars
from llmtrace.evals.production.drift_features import Bins
from llmtrace.evals.production.drift_html import drift_to_html
from llmtrace.evals.production.drift_result import DriftResult, FeatureDrift
from tests.html_checks import external_references, parse
from tests.production_traffic import TrafficWindows, shared_traffic


@pytest.fixture
def traffic(tmp_path_factory: pytest.TempPathFactory) -> TrafficWindows:
    return shared_traffic(tmp_path_factory)


def test_cli_drift_html_shows_every_feature_with_its_decision(
    traffic: TrafficWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "prod.yaml"
    config.write_text("drift:\n  features:\n    guardrail_action: {psi_max: 0.25}\n")
    out = tmp_path / "reports" / "drift.html"
    answer = tmp_path / "drift.json"
    args = ["drift", "--db", str(traffic.db), "--config", str(config), "--html", str(out)]
    args += ["--json", str(answer)]
    args += ["--reference", "..".join(traffic.baseline)]
    with pytest.raises(SystemExit) as done:
        main([*args, "--current", "..".join(traffic.regression)])
    assert done.value.code == 1, capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    assert external_references(page) == []
    parser = parse(page)
    assert STYLESHEET in page and parser.tags.count("h1") == 1
    assert 'class="verdict d-fail"' in page
    features = [f["feature"] for f in json.loads(answer.read_text())["features"]]
    assert len(features) >= 5
    for feature in features:
        rows = [r for r in parser.rows if r.startswith(f"{feature} ")]
        assert len(rows) == 1, (feature, rows)
    guardrail = next(r for r in parser.rows if r.startswith("guardrail_action "))
    assert "✗ fail" in guardrail
    plots = re.findall(r'<svg[^>]*aria-label="(\S+) \(bars per bin\)', page)
    assert set(plots) <= set(features) and "guardrail_action" in plots


def test_drift_html_escapes_and_says_decisions_in_words() -> None:
    feature = FeatureDrift(
        "model",
        "categorical",
        Bins("categorical", categories=("<script>", "gpt-4o")),
        [90, 10, 0],
        [10, 80, 10],
        2.1,
        0.5,
        "fail",
        "PSI 2.1 > 0.25",
    )
    page = drift_to_html(DriftResult("7d..1d", "24h", "a < b", [feature]))
    assert external_references(page) == []
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert '<span class="badge d-fail">✗ fail</span>' in page
    assert "<code>a &lt; b</code>" in page


def test_share_bars_draw_each_share_with_its_count() -> None:
    svg = share_bars(
        ["a", "b"], [CountSeries("reference", [3, 1], "base"), CountSeries("current", [0, 4])], "x"
    )
    assert svg.count("<rect") == 4
    assert "<title>reference: 75.0% (3 of 4) in a</title>" in svg
    assert "<title>current: 0.0% (0 of 4) in a</title>" in svg
    assert share_bars(["a"], [CountSeries("current", [0])], "empty") == ""
