"""``python -m bench.production --only``: a section alone, so drift's figure over 10M spans
does not wait for the gate's over 1M and 10M (the stores are not built here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import production


@pytest.mark.parametrize(
    ("argv", "stores", "sections"),
    [
        (["--only", "drift"], [10_000_000], ("drift",)),
        (["--only", "gate"], [1_000_000, 10_000_000], ("gate",)),
        (["--quick", "--only", "drift"], [1_000_000], ("drift",)),
        ([], [1_000_000, 10_000_000], ("gate", "drift")),
    ],
)
def test_only_runs_the_sections_asked_for(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stores: list[int],
    sections: tuple[str, ...],
) -> None:
    opened: list[int] = []
    figures: list[tuple[int, float | None, tuple[str, ...]]] = []

    def store_path(spans: int, cache: Path | None, scratch: Path) -> Path:
        opened.append(spans)
        return scratch / f"{spans}.duckdb"

    monkeypatch.setattr(production, "store_path", store_path)
    monkeypatch.setattr(
        production,
        "_figures",
        lambda db, spans, gate_s, drift_s, only: figures.append((spans, drift_s, only)),
    )
    production.main(argv)
    assert opened == stores
    assert [f[0] for f in figures] == stores and all(f[2] == sections for f in figures)
    assert [f[1] for f in figures][-1] == 3.0  # drift's target goes with the largest store
