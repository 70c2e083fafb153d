"""SQL of migration 8: production gates and drift remember what they looked at.

A gate over traces stores its rows in ``gate_results`` like any gate (its ``run_id`` reads
``traces <window>``), plus the window it covered, the baseline window, the ``--where``
selection and how the traces were clustered. A drift comparison stores one row per feature
in ``drift_results`` with the bins fixed from the reference, so a later run can reuse them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PRODUCTION_TABLES_SQL"]

PRODUCTION_TABLES_SQL: Final = """
ALTER TABLE gate_results ADD COLUMN window_start TIMESTAMPTZ;
ALTER TABLE gate_results ADD COLUMN window_end TIMESTAMPTZ;
ALTER TABLE gate_results ADD COLUMN baseline_window_start TIMESTAMPTZ;
ALTER TABLE gate_results ADD COLUMN baseline_window_end TIMESTAMPTZ;
ALTER TABLE gate_results ADD COLUMN selection VARCHAR;
ALTER TABLE gate_results ADD COLUMN clustered_by VARCHAR;
CREATE TABLE drift_results (
    drift_id VARCHAR NOT NULL,
    reference VARCHAR NOT NULL,
    current VARCHAR NOT NULL,
    selection VARCHAR,
    feature VARCHAR NOT NULL,
    feature_kind VARCHAR NOT NULL,
    bins JSON NOT NULL,
    reference_counts JSON NOT NULL,
    current_counts JSON NOT NULL,
    psi DOUBLE,
    js DOUBLE,
    epsilon DOUBLE NOT NULL,
    decision VARCHAR,
    decided_at TIMESTAMPTZ DEFAULT now()
);
"""
