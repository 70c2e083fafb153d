"""Judge calibrations in the store: written by ``evals.calibrate(..., db=)`` and ``llmtrace
calibrate``, read by the ``judge.<name>.agreement`` gate metric and the reports.

A judge's scores are evidence only for the judge version that was calibrated: a calibration of
``helpful@strict-v1`` says nothing about ``helpful@strict-v2``. :func:`calibration_for` picks
the newest stored calibration of exactly the version that scored a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..store.connection import connect_write
from ..store.query import open_store_for_read

__all__ = [
    "JudgeCalibration",
    "calibration_for",
    "load_calibrations",
    "store_calibration",
]


@dataclass(frozen=True)
class JudgeCalibration:
    """A judge version's agreement with human labels on one labelled dataset version."""

    judge: str
    judge_model: str | None
    judge_version: str | None
    dataset_version: str
    measure: str
    agreement: float
    ci_low: float
    ci_high: float
    n: int
    judge_errors: int
    confidence: float
    note: str = ""
    dataset_name: str = ""


_COLUMNS = (
    "judge",
    "judge_model",
    "judge_version",
    "dataset_name",
    "dataset_version",
    "measure",
    "agreement",
    "ci_low",
    "ci_high",
    "n",
    "judge_errors",
    "confidence",
    "note",
)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def store_calibration(db: Path, calibration: JudgeCalibration) -> None:
    """One ``judge_calibrations`` row (NaN and infinite ends are stored as NULL)."""
    c = calibration
    row = [
        c.judge,
        c.judge_model,
        c.judge_version,
        c.dataset_name or None,
        c.dataset_version,
        c.measure,
        _finite(c.agreement),
        _finite(c.ci_low),
        _finite(c.ci_high),
        c.n,
        c.judge_errors,
        c.confidence,
        c.note,
    ]
    marks = ", ".join("?" for _ in _COLUMNS)
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.execute(
            f"INSERT INTO judge_calibrations ({', '.join(_COLUMNS)}) VALUES ({marks})", row
        )
    finally:
        conn.close()


def _value(value: float | None, missing: float) -> float:
    return missing if value is None else float(value)


def load_calibrations(db: Path) -> list[JudgeCalibration]:
    """Every stored calibration, newest first; none when the store (or its table) is missing."""
    if not db.exists():
        return []
    conn = open_store_for_read(db)
    try:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'judge_calibrations'"
        ).fetchone()
        if not found or not found[0]:
            return []
        rows = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM judge_calibrations ORDER BY calibrated_at DESC"
        ).fetchall()
    finally:
        conn.close()
    return [
        JudgeCalibration(
            judge=r[0],
            judge_model=r[1],
            judge_version=r[2],
            dataset_version=r[4],
            measure=r[5],
            agreement=_value(r[6], math.nan),
            ci_low=_value(r[7], -math.inf),
            ci_high=_value(r[8], math.inf),
            n=int(r[9]),
            judge_errors=int(r[10]),
            confidence=float(r[11]),
            note=r[12] or "",
            dataset_name=r[3] or "",
        )
        for r in rows
    ]


def calibration_for(
    calibrations: Sequence[JudgeCalibration], judge: str, version: str | None
) -> JudgeCalibration | None:
    """The first (newest, as :func:`load_calibrations` orders them) calibration of exactly
    ``judge`` at ``version``; None when that version was never calibrated."""
    for calibration in calibrations:
        if calibration.judge == judge and calibration.judge_version == version:
            return calibration
    return None
