"""The HTML report in a real browser: headless Chromium, network off, no console errors, and a
screenshot that is not blank. Skipped, saying why, where Chromium is not installed (Debian:
``apt-get install chromium``)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import llmtrace
from llmtrace import evals

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)"
)


def open_in_chromium(url: str, screenshot: Path, size: str = "1280,2000") -> list[str]:
    """Load ``url`` with every host name unresolvable (no network) and return the page's
    console messages; the screenshot lands in ``screenshot``."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={screenshot}",
            f"--window-size={size}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.exists(), done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def distinct_pixels(png: Path) -> int:
    """How many distinct byte values the image's pixel rows hold (1-2 for a blank page)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, compressed = 8, b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            compressed += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(compressed)))


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "b.duckdb"
    handle = llmtrace.configure(service_name="browser-test", db=db, capture_content=True)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(text: str) -> dict[str, object]:
        return {"choices": [{"message": {"content": text.upper()}}], "usage": {}}

    def target(example: evals.Example, model: str) -> str:
        broken = model == "cand" and int(example.id[1:]) % 4 == 0
        answer = call("no" if broken else str(example.expected))
        return str(answer["choices"][0]["message"]["content"]).lower()  # type: ignore[index]

    rows = [{"id": f"e{i:02d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(24)]
    suite = evals.Suite(
        name="browser",
        dataset=evals.Dataset.from_records(rows, name="b"),
        target=target,
        scorers=[evals.exact_match()],
    )
    base = suite.run(model="base", db=db, progress=False)
    cand = suite.run(model="cand", db=db, progress=False)
    handle.shutdown()
    gates = {"gates": [{"metric": "quality.exact_match", "min": 0.9, "max_drop": 0.0}]}
    out = folder / "report.html"
    evals.report(cand, base, config=gates, out=out, db=db)
    return out


def test_report_opens_offline_without_console_errors(report_file, tmp_path):
    screenshot = tmp_path / "report.png"
    console = open_in_chromium(report_file.as_uri(), screenshot)
    assert console == []
    assert screenshot.stat().st_size > 20_000
    assert distinct_pixels(screenshot) > 50  # text, badges and plots, not a blank page


def test_the_console_check_sees_errors(tmp_path):
    """The check above can fail: a page that logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom')</script>")
    console = open_in_chromium(page.as_uri(), tmp_path / "bad.png", "400,300")
    assert any("boom" in line for line in console)


def test_card_and_drift_pages_open_offline_without_console_errors(report_file, tmp_path):
    """The model card and the drift report share the report's renderer: they open the same."""
    from llmtrace.evals.production.drift_features import Bins
    from llmtrace.evals.production.drift_html import drift_to_html
    from llmtrace.evals.production.drift_result import DriftResult, FeatureDrift

    db = report_file.parent / "b.duckdb"
    registry = evals.Registry(db)
    latest = llmtrace.query(
        "SELECT run_id FROM eval_runs WHERE model = 'cand' ORDER BY started_at DESC LIMIT 1",
        db=db,
    )[0]["run_id"]
    release = registry.register(latest, name="browser-bot")
    card = tmp_path / "card.html"
    card.write_text(evals.card(release, format="html", card_yaml=None, db=db), encoding="utf-8")
    feature = FeatureDrift(
        "model", "categorical", Bins("categorical", categories=("a", "b")), [8, 2, 0], [1, 8, 1],
        2.0, 0.4, "fail", "PSI 2 > 0.25",
    )  # fmt: skip
    drift = tmp_path / "drift.html"
    drift.write_text(drift_to_html(DriftResult("7d..1d", "24h", None, [feature])), "utf-8")
    for page in (card, drift):
        screenshot = tmp_path / f"{page.stem}.png"
        assert open_in_chromium(page.as_uri(), screenshot) == [], page.name
        assert distinct_pixels(screenshot) > 50, page.name
