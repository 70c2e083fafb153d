"""``evals.drift`` and ``llmtrace drift`` on stores written by real traced processes (issue 17).

The PSI and Jensen-Shannon values are recomputed here with numpy from the raw values in the
store and the recorded bins, within 1e-9; the bins are the reference's deciles; a ``drift:``
rule turns a shifted feature into exit 1 and leaves an unchanged one at exit 0.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from llmtrace import evals
from llmtrace.evals.production import Window
from tests.conftest import cli_in_process as cli
from tests.production_traffic import TrafficWindows, shared_traffic

EPSILON = 1e-6


@pytest.fixture
def traffic(tmp_path_factory: pytest.TempPathFactory) -> TrafficWindows:
    return shared_traffic(tmp_path_factory)


def window(bounds: tuple[str, str]) -> Window:
    return Window(datetime.fromisoformat(bounds[0]), datetime.fromisoformat(bounds[1]))


def shares(counts: np.ndarray) -> np.ndarray:
    raised = np.maximum(counts / counts.sum(), EPSILON)
    return raised / raised.sum()


def direct_psi_js(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    r, c = shares(reference.astype(float)), shares(current.astype(float))
    m = (r + c) / 2
    psi = float(np.sum((c - r) * np.log(c / r)))
    js = float(0.5 * np.sum(r * np.log2(r / m)) + 0.5 * np.sum(c * np.log2(c / m)))
    return psi, js


def root_latencies(db: Path, bounds: tuple[str, str]) -> np.ndarray:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT duration_ms FROM spans WHERE parent_span_id IS NULL "
            "AND start_time >= ?::TIMESTAMPTZ AND start_time < ?::TIMESTAMPTZ",
            list(bounds),
        ).fetchall()
    finally:
        conn.close()
    return np.array([r[0] for r in rows], dtype=float)


def guardrail_actions(db: Path, bounds: tuple[str, str]) -> list[str]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT g.guardrail_policy || ':' || g.guardrail_action FROM spans g "
            "JOIN spans r ON r.trace_id = g.trace_id AND r.parent_span_id IS NULL "
            "WHERE g.kind = 'guardrail' AND r.start_time >= ?::TIMESTAMPTZ "
            "AND r.start_time < ?::TIMESTAMPTZ",
            list(bounds),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def test_numeric_drift_matches_numpy_on_the_reference_deciles(traffic: TrafficWindows) -> None:
    result = evals.drift(
        window(traffic.baseline), window(traffic.regression), db=traffic.db, store=False
    )
    latency = next(f for f in result.features if f.feature == "latency_ms")
    reference = root_latencies(traffic.db, traffic.baseline)
    current = root_latencies(traffic.db, traffic.regression)
    edges = np.unique(np.quantile(reference, [i / 10 for i in range(1, 10)]))
    assert np.allclose(latency.bins.edges, edges, rtol=0, atol=1e-9)
    # a value v is in bin i when exactly i edges lie below it: (e_i, e_i+1]
    ref_counts = np.bincount(
        np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1
    )
    cur_counts = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1)
    assert latency.reference_counts == ref_counts.tolist()
    assert latency.current_counts == cur_counts.tolist()
    psi, js = direct_psi_js(ref_counts, cur_counts)
    assert latency.psi == pytest.approx(psi, abs=1e-9)
    assert latency.js == pytest.approx(js, abs=1e-9)
    assert latency.psi is not None and latency.psi > 1.0  # latency x5 moved nearly every trace


def test_categorical_drift_matches_numpy_with_other_and_epsilon(traffic: TrafficWindows) -> None:
    result = evals.drift(
        window(traffic.baseline), window(traffic.regression), db=traffic.db, store=False
    )
    actions = next(f for f in result.features if f.feature == "guardrail_action")
    assert actions.bins.labels() == ["pii:allow", "pii:block", "(other)"]
    labels = actions.bins.labels()
    ref = np.array([guardrail_actions(traffic.db, traffic.baseline).count(x) for x in labels])
    cur = np.array([guardrail_actions(traffic.db, traffic.regression).count(x) for x in labels])
    assert actions.reference_counts == ref.tolist() and ref[2] == 0  # the empty bin: epsilon
    assert actions.current_counts == cur.tolist()
    psi, js = direct_psi_js(ref, cur)
    assert actions.psi == pytest.approx(psi, abs=1e-9)
    assert actions.js == pytest.approx(js, abs=1e-9)
    model = next(f for f in result.features if f.feature == "model")
    assert model.psi == pytest.approx(0.0, abs=1e-12)


def test_drift_rules_exit_1_on_the_shift_and_record_the_bins(
    traffic: TrafficWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "prod.yaml"
    config.write_text(
        "drift:\n  features:\n"
        "    guardrail_action: {psi_max: 0.25}\n    latency_ms: {js_max: 0.3}\n"
    )
    reference = "..".join(traffic.baseline)
    out_json = tmp_path / "drift.json"
    args = ["drift", "--db", str(traffic.db), "--reference", reference, "--config", str(config)]
    code, out, err = cli(
        capsys, *args, "--current", "..".join(traffic.regression), "--json", str(out_json)
    )
    assert code == 1, err
    assert err.strip() == "llmtrace: drift failed: 2 features over a bound"
    failed = {
        f["feature"]
        for f in json.loads(out_json.read_text())["features"]
        if f["decision"] == "fail"
    }
    assert failed == {"guardrail_action", "latency_ms"}

    code, out, err = cli(
        capsys, *args, "--current", "..".join(traffic.unchanged), "--feature", "guardrail_action"
    )
    assert code == 0, err
    assert out.strip().endswith("decision: pass")

    conn = duckdb.connect(str(traffic.db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT feature, bins, reference_counts, epsilon FROM drift_results "
            "WHERE feature = 'guardrail_action' ORDER BY decided_at"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 2
    assert json.loads(rows[0][1])["categories"] == ["pii:allow", "pii:block"]
    assert sum(json.loads(rows[0][2])) == 300 and rows[0][3] == EPSILON


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--current", "nope"], "--current 'nope': no eval run has that id"),
        (["--current", "1h", "--feature", "colour"], "unknown drift feature 'colour'"),
        (["--current", "1h", "--where", "bogus > 1"], "--where 'bogus > 1'"),
    ],
)
def test_drift_bad_input_exits_2_with_one_line(
    traffic: TrafficWindows, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    reference = "..".join(traffic.baseline)
    code, _out, err = cli(
        capsys, "drift", "--db", str(traffic.db), "--reference", reference, *extra
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_without_a_rule_drift_is_reported_not_judged(
    traffic: TrafficWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A large shift with no drift: section is not a pass: every feature and the whole result
    say ``none`` (reported only), exit 0; a rule on one feature judges that one alone."""
    result = evals.drift(
        window(traffic.baseline), window(traffic.regression), db=traffic.db, store=False
    )
    latency = next(f for f in result.features if f.feature == "latency_ms")
    assert latency.psi is not None and latency.psi > 1.0
    assert {f.decision for f in result.features} <= {"none", "warn"}
    assert result.decision == "none" and result.passed

    out_md = tmp_path / "drift.md"
    code, out, _ = cli(
        capsys, "drift", "--db", str(traffic.db), "--reference", "..".join(traffic.baseline),
        "--current", "..".join(traffic.regression), "--markdown", str(out_md),
    )  # fmt: skip
    assert code == 0 and out.strip().endswith("decision: none")
    assert out_md.read_text().startswith("## llmtrace drift: ℹ️ no rule")

    config = tmp_path / "one.yaml"
    config.write_text("drift:\n  features:\n    model: {psi_max: 0.25}\n")
    judged = evals.drift(
        window(traffic.baseline), window(traffic.regression), db=traffic.db, store=False,
        config=config,
    )  # fmt: skip
    decisions = {f.feature: f.decision for f in judged.features}
    assert decisions["model"] == "pass" and decisions["latency_ms"] == "none"
    assert judged.decision == "pass"
