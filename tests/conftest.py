"""Shared fixtures. llmtrace's own internal errors are raised in tests, so bugs are seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["LLMTRACE_RAISE_INTERNAL_ERRORS"] = "1"

from llmtrace.testing import CapturedSpans, capture_spans

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    with capture_spans() as captured:
        yield captured


def run_python(
    code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (global OpenTelemetry state starts clean)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=timeout,
    )


def run_json(code: str, **kwargs: Any) -> Any:
    """Run ``code`` in a subprocess; its last stdout line is parsed as JSON."""
    done = run_python(code, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "simulation: gate calibration by simulation (tens of seconds; -m 'not simulation' skips)",
    )
