"""SQL of migration 9: judge calibrations, so a judge's agreement with human labels is kept.

One row per :func:`llmtrace.evals.calibrate` that was stored: the judge's name, model and
version, the labelled dataset's name and version, the agreement measure (Cohen's kappa or
Krippendorff's alpha) with its interval, and how many labelled examples it rests on. The
``judge.<name>.agreement`` gate metric and the reports read the newest row for the judge
version that scored a run.
"""

from __future__ import annotations

from typing import Final

__all__ = ["JUDGE_TABLES_SQL"]

JUDGE_TABLES_SQL: Final = """
CREATE TABLE judge_calibrations (
    judge VARCHAR NOT NULL,
    judge_model VARCHAR,
    judge_version VARCHAR,
    dataset_name VARCHAR,
    dataset_version VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,
    agreement DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    n INTEGER NOT NULL,
    judge_errors INTEGER NOT NULL,
    confidence DOUBLE NOT NULL,
    note VARCHAR,
    calibrated_at TIMESTAMPTZ DEFAULT now()
);
"""
