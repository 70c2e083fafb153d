"""Suites and runs: a target over a versioned dataset for one (dataset, model, prompt) triple.

Each example-epoch runs in its own trace: a root span ``eval <suite>`` carrying run id, example
id, epoch, dataset version, model and prompt version, a child span around the target (its
duration is the latency gates use), then the scorers, whose verdicts land as
``gen_ai.evaluation.result`` events on the root span. Results are stored next to the spans, so
latency and cost come from real traces.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from .. import _config
from .._settings import UNSET
from .._store_path import default_db_path
from ..errors import RunInterrupted, UserError
from ..prompts import Prompt
from .data_checks import measure_dataset
from .dataset import Dataset
from .envelope import build_envelope
from .execution import Execution, accepts, show_progress
from .records import record_dataset, record_results, record_run
from .results import TARGET_SCORER, ExampleResult, Run
from .scorers import Scorer

__all__ = ["TARGET_SCORER", "ExampleResult", "Run", "Suite"]


@dataclass
class Suite:
    """A named target, dataset and scorers.

    Example:
        >>> suite = evals.Suite(name="qa", dataset=ds, target=answer,
        ...                     scorers=[evals.exact_match()])
        >>> run = suite.run(model="gpt-4o-mini", prompt=PROMPT, epochs=3, concurrency=16)
    """

    name: str
    dataset: Dataset
    target: Callable[..., Any]
    scorers: Sequence[Scorer] = ()
    prompts: Sequence[Prompt] = ()
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        names = [s.name for s in self.scorers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"suite {self.name!r}: scorer names must be unique: {duplicates}")
        if TARGET_SCORER in names:
            raise ValueError(f"suite {self.name!r}: {TARGET_SCORER!r} is a reserved scorer name")
        for scorer_obj in self.scorers:
            if not isinstance(scorer_obj, Scorer):
                raise TypeError(f"suite {self.name!r}: {scorer_obj!r} is not an evals scorer")

    def prompt_for(self, version: str) -> Prompt:
        """The suite's prompt with ``version`` (for ``llmtrace eval --prompt-version``)."""
        for prompt in self.prompts:
            if prompt.version == version:
                return prompt
        known = [p.version for p in self.prompts]
        raise UserError(f"suite {self.name!r} has no prompt version {version!r}; known: {known}")

    def run(
        self,
        *,
        model: str,
        prompt: Prompt | None = None,
        epochs: int = 1,
        concurrency: int = 8,
        seed: int | None = 0,
        params: dict[str, Any] | None = None,
        db: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
    ) -> Run:
        """Run every example ``epochs`` times with at most ``concurrency`` in flight."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        prompt = self._chosen_prompt(prompt)
        if not _config.is_configured():
            # Spans must land beside the run's records: this run's db, else LLMTRACE_DB, else
            # ./llmtrace.duckdb. (configure(db=None) would turn the store off.)
            _config.configure(db=UNSET if db is None else db)
        _config.warm_up()  # lazy loads must not land in the first example's latency
        run = self._new_run(model, prompt, epochs, seed, concurrency, params, default_db_path(db))
        record_dataset(run.db_path, self.dataset)
        run.envelope["data_checks"] = measure_dataset(run.db_path, self.dataset)
        record_run(run.db_path, run)
        self._execute(run, prompt, show_progress() if progress is None else progress)
        return run

    def _chosen_prompt(self, prompt: Prompt | None) -> Prompt | None:
        if prompt is None and len(self.prompts) == 1:
            return self.prompts[0]
        if prompt is None and len(self.prompts) > 1 and "prompt" in accepts(self.target):
            versions = ", ".join(p.version for p in self.prompts)
            raise UserError(
                f"suite {self.name!r} declares prompts {versions}: choose one with prompt= "
                "(llmtrace eval: --prompt-version)"
            )
        return prompt

    def _new_run(
        self,
        model: str,
        prompt: Prompt | None,
        epochs: int,
        seed: int | None,
        concurrency: int,
        params: dict[str, Any] | None,
        db_path: Path,
    ) -> Run:
        return Run(
            id=uuid.uuid4().hex[:16],
            suite=self.name,
            dataset_name=self.dataset.name,
            dataset_version=self.dataset.version,
            model=model,
            prompt_name=prompt.name if prompt else None,
            prompt_version=prompt.version if prompt else None,
            epochs=epochs,
            seed=seed,
            concurrency=concurrency,
            params=dict(params or {}),
            envelope=build_envelope(
                seed,
                {
                    "dataset_hash": self.dataset.content_hash,
                    "dataset_source": self.dataset.source_path,
                    "prompt_hash": prompt.hash if prompt else None,
                },
            ),
            example_count=len(self.dataset),
            db_path=db_path,
            started_at=datetime.now(timezone.utc),
        )

    def _execute(self, run: Run, prompt: Prompt | None, show: bool) -> None:
        """Every example-epoch, then the results stored, whatever stopped the run."""
        work = [(e, epoch) for epoch in range(run.epochs) for e in self.dataset.examples]
        execute = Execution(self, run, prompt)
        try:
            if inspect.iscoroutinefunction(self.target):
                asyncio.run(execute.run_async(work, show))
            else:
                execute.run_threads(work, show)
            run.status = "completed"
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM under `llmtrace eval`
            run.status = "incomplete"
            signum = getattr(exc, "signum", signal.SIGINT)
            raise RunInterrupted(run, signum) from exc
        finally:
            with _signals_deferred():
                run.results.sort(key=lambda r: (r.epoch, r.example_id))
                run.ended_at = datetime.now(timezone.utc)
                _config.flush_pipeline()
                record_results(run.db_path, run.id, run.results)
                record_run(run.db_path, run)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a run's results are stored: pressing Ctrl-C twice must not
    leave the run ``running`` with its results half written. A signal that came while the run
    was already stopping is dropped (it asked for what is happening); otherwise it is delivered
    once the results are in. Only the main thread can handle signals; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    stopping = sys.exc_info()[0] is not None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if received and not stopping:
        signal.raise_signal(received[0])
