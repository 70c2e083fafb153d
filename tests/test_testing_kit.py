"""llmtrace.testing, the public test kit: the fake clock and whole span records."""

from __future__ import annotations

import time

import pytest

import llmtrace
from llmtrace._tracing.runtime import runtime
from llmtrace.testing import FakeClock, capture_spans


def test_a_fake_clock_gives_exact_times_and_only_for_its_block():
    clock = FakeClock(origin_ns=5_000)
    with capture_spans(clock=clock) as spans:
        with llmtrace.workflow("outer"):
            clock.advance(0.25)
            with llmtrace.tool("inner"):
                clock.advance(1e-9)
        assert clock.time_ns() == clock.perf_counter_ns() == 5_000 + 250_000_001
    assert (runtime.time_ns, runtime.perf_counter_ns) == (time.time_ns, time.perf_counter_ns)
    times = [(r["name"], r["start_ns"], r["end_ns"]) for r in spans.records()]
    assert times == [
        ("execute_tool inner", 250_000_000, 250_000_001),
        ("invoke_workflow outer", 0, 250_000_001),
    ]


def test_without_a_clock_records_carry_no_times():
    with capture_spans() as spans, llmtrace.workflow("w"):
        pass
    [record] = spans.records()
    assert "start_ns" not in record and "end_ns" not in record
    [span] = spans.spans()
    assert span.start_time is not None and span.end_time is not None
    assert abs(span.start_time - time.time_ns()) < 60 * 10**9  # the real wall clock


def test_a_clock_does_not_go_back():
    clock = FakeClock()
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
    assert clock.time_ns() == clock.origin_ns


def test_the_readme_example_runs_as_written():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    [block] = [
        b for b in readme.split("```python\n")[1:] if b.startswith("from llmtrace.testing import")
    ]
    exec(block.split("```")[0], {"llmtrace": llmtrace})  # its assert is the check
