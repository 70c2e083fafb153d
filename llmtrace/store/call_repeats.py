"""Migration 15: ``model_calls`` (store/calls.py) finds the hashes of response ids that repeat by
sorting them, where migration 14 grouped them.

Which response ids repeat is the view's costliest step over a store where every call has one
(as real calls do): 4M calls are 4M distinct hashes, and a grouping into 4M groups of one row
each is a hash table of 4M entries (0.57-0.62 CPU-s alone). Sorted, a hash repeats when it
equals the next one (0.47-0.48 CPU-s, same runs); drift over 10M spans took a median 3.80
CPU-s against 4.04 with migration 14's view (12 runs each, alternating). Only the ids whose
hash repeats are then grouped as text, as before: the same rows.
"""

from __future__ import annotations

from typing import Final

from .calls import _INFERENCE_KINDS, HASHED_REPEAT_CALL_VIEWS_SQL

__all__ = ["SORTED_REPEAT_CALL_VIEWS_SQL"]

_HASHES = f"""SELECT hash(provider, response_id) AS h FROM spans
              WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL"""
_GROUPED = f"""
          SELECT h FROM (
              {_HASHES}
          ) GROUP BY h HAVING count(*) > 1"""
_SORTED = f"""
          SELECT h FROM (
              SELECT h, lead(h) OVER (ORDER BY h) AS next_h FROM ({_HASHES})
          ) WHERE h = next_h"""

SORTED_REPEAT_CALL_VIEWS_SQL: Final = HASHED_REPEAT_CALL_VIEWS_SQL.replace(_GROUPED, _SORTED, 1)
if SORTED_REPEAT_CALL_VIEWS_SQL == HASHED_REPEAT_CALL_VIEWS_SQL:  # pragma: no cover
    raise AssertionError("migration 14's hash stage not found")
