"""Suites and runs: a target over a versioned dataset for one (dataset, model, prompt) triple.

Each example-epoch runs in its own trace: a root span ``eval <suite>`` carrying run id, example
id, epoch, dataset version, model and prompt version, a child span around the target (its
duration is the latency gates use), then the scorers, whose verdicts land as
``gen_ai.evaluation.result`` events on the root span. Results are stored next to the spans, so
latency and cost come from real traces.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import _config
from .._context import context
from .._settings import UNSET
from .._spans import workflow
from ..errors import RunInterrupted, UserError
from ..prompts import Prompt
from ..store.query import default_db_path
from .data_checks import measure_dataset
from .dataset import Dataset, Example
from .envelope import build_envelope
from .records import record_dataset, record_results, record_run
from .scorers import Score, Scorer

__all__ = ["TARGET_SCORER", "ExampleResult", "Run", "Suite"]

# Every example-epoch also gets one result row under this name: 1.0 when the target returned,
# 0.0 when it raised or timed out. Error rate, latency and cost are read from these rows.
TARGET_SCORER = "target"


@dataclass
class ExampleResult:
    """The outcome of one example in one epoch."""

    example_id: str
    epoch: int
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    trace_id: str | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    scorer_meta: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """No error, and every quality scorer gave at least 0.5."""
        if self.error is not None:
            return False
        for name, score in self.scores.items():
            if self.scorer_meta[name][0] == "quality" and not (
                score.value is not None and score.value >= 0.5
            ):
                return False
        return True


@dataclass
class Run:
    """One executed triple: ``run.id`` names it in the store and in gates."""

    id: str
    suite: str
    dataset_name: str
    dataset_version: str
    model: str
    prompt_name: str | None
    prompt_version: str | None
    epochs: int
    seed: int | None
    concurrency: int
    params: dict[str, Any]
    envelope: dict[str, Any]
    example_count: int
    db_path: Path
    started_at: datetime
    status: str = "running"
    ended_at: datetime | None = None
    results: list[ExampleResult] = field(default_factory=list)

    def mean(self, scorer: str) -> float | None:
        values = [r.scores[scorer].value for r in self.results if scorer in r.scores]
        numbers = [v for v in values if v is not None]
        return sum(numbers) / len(numbers) if numbers else None

    @property
    def error_rate(self) -> float:
        return sum(r.error is not None for r in self.results) / max(len(self.results), 1)


def _accepts(target: Callable[..., Any]) -> set[str]:
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {"model", "prompt", "params", "seed", "epoch"}
    return set(parameters)


def _show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


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
        if prompt is None and len(self.prompts) == 1:
            prompt = self.prompts[0]
        if prompt is None and len(self.prompts) > 1 and "prompt" in _accepts(self.target):
            versions = ", ".join(p.version for p in self.prompts)
            raise UserError(
                f"suite {self.name!r} declares prompts {versions}: choose one with prompt= "
                "(llmtrace eval: --prompt-version)"
            )
        if not _config.is_configured():
            # Spans must land beside the run's records: this run's db, else LLMTRACE_DB, else
            # ./llmtrace.duckdb. (configure(db=None) would turn the store off.)
            _config.configure(db=UNSET if db is None else db)
        _config.warm_up()  # lazy loads must not land in the first example's latency
        db_path = default_db_path(db)
        run = Run(
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
        record_dataset(db_path, self.dataset)
        run.envelope["data_checks"] = measure_dataset(db_path, self.dataset)
        record_run(db_path, run)
        work = [(example, epoch) for epoch in range(epochs) for example in self.dataset.examples]
        execute = _Execution(self, run, prompt)
        show = _show_progress() if progress is None else progress
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
            run.results.sort(key=lambda r: (r.epoch, r.example_id))
            run.ended_at = datetime.now(timezone.utc)
            _config.flush_pipeline()
            record_results(db_path, run.id, run.results)
            record_run(db_path, run)
        return run


class _Execution:
    """Runs example-epochs of one run; one instance per ``Suite.run`` call."""

    def __init__(self, suite: Suite, run: Run, prompt: Prompt | None) -> None:
        self.suite = suite
        self.run = run
        self.prompt = prompt
        self.accepts = _accepts(suite.target)
        self.root_spec = workflow(f"eval {suite.name}")
        self.target_spec = workflow(getattr(suite.target, "__name__", "target"))

    def _kwargs(self, epoch: int) -> dict[str, Any]:
        offered = {
            "model": self.run.model,
            "prompt": self.prompt,
            "params": self.run.params,
            "seed": self.run.seed,
            "epoch": epoch,
        }
        return {k: v for k, v in offered.items() if k in self.accepts}

    def _context(self, example: Example, epoch: int) -> context:
        return context(
            eval_run_id=self.run.id,
            eval_example_id=example.id,
            eval_epoch=epoch,
            dataset_version=self.run.dataset_version,
            prompt_name=self.run.prompt_name,
            prompt_version=self.run.prompt_version,
            eval_model=self.run.model,
        )

    def _score(self, result: ExampleResult, example: Example, root: Any) -> None:
        for scorer_obj in self.suite.scorers:
            result.scorer_meta[scorer_obj.name] = (
                scorer_obj.kind,
                scorer_obj.judge_model,
                scorer_obj.judge_version,
            )
            if result.error is not None:
                value = 0.0 if scorer_obj.kind == "quality" else None
                score = Score(value, False if value == 0.0 else None, "target failed")
            elif scorer_obj.is_judge:
                from .._spans import judge as judge_span

                with judge_span(
                    model=scorer_obj.judge_model,
                    version=scorer_obj.judge_version,
                    name=scorer_obj.name,
                ) as span:
                    score = scorer_obj.score(example, result.output)
                    if score.value is not None:
                        span.record_evaluation(
                            score.value,
                            name=scorer_obj.name,
                            explanation=score.explanation,
                            target=root,
                        )
            else:
                score = scorer_obj.score(example, result.output)
                if score.value is not None:
                    root.record_evaluation(
                        score.value, name=scorer_obj.name, explanation=score.explanation
                    )
            result.scores[scorer_obj.name] = score
        result.scorer_meta[TARGET_SCORER] = (TARGET_SCORER, None, None)
        ok = result.error is None
        result.scores[TARGET_SCORER] = Score(1.0 if ok else 0.0, ok, result.error)

    def one_sync(self, example: Example, epoch: int) -> ExampleResult:
        result = ExampleResult(example.id, epoch)
        with self._context(example, epoch), self.root_spec as root:
            result.trace_id = root.trace_id
            start = time.perf_counter()
            try:
                with self.target_spec:
                    result.output = self.suite.target(example, **self._kwargs(epoch))
            except Exception as exc:
                result.error = f"{type(exc).__name__}: {exc}"
            result.latency_ms = (time.perf_counter() - start) * 1000
            timeout_s = self.suite.timeout_s
            if (
                result.error is None
                and timeout_s is not None
                and result.latency_ms > timeout_s * 1e3
            ):
                # A thread cannot be interrupted: the answer came, but too late to count.
                result.output = None
                result.error = f"TimeoutError: answered after {result.latency_ms:.0f} ms"
            self._score(result, example, root)
        return result

    async def one_async(self, example: Example, epoch: int) -> ExampleResult:
        result = ExampleResult(example.id, epoch)
        async with self._context(example, epoch), self.root_spec as root:
            result.trace_id = root.trace_id
            start = time.perf_counter()
            try:
                async with self.target_spec:
                    call = self.suite.target(example, **self._kwargs(epoch))
                    result.output = await asyncio.wait_for(call, self.suite.timeout_s)
            except asyncio.TimeoutError:
                result.error = f"TimeoutError: no answer within {self.suite.timeout_s:g}s"
            except Exception as exc:
                result.error = f"{type(exc).__name__}: {exc}"
            result.latency_ms = (time.perf_counter() - start) * 1000
            self._score(result, example, root)
        return result

    def run_threads(self, work: list[tuple[Example, int]], show: bool) -> None:
        """``concurrency`` worker threads pull example-epochs from one queue. (Submitting every
        item to a ThreadPoolExecutor up front costs the submitting thread more than the work.)
        Each item runs in a copy of the caller's context, so ``llmtrace.context`` carries."""
        pending = iter(work)
        lock = threading.Lock()
        stop = threading.Event()
        failure: list[BaseException] = []
        caller_context = contextvars.copy_context()

        def worker(progress: _Progress) -> None:
            while not stop.is_set():
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                try:
                    result = caller_context.copy().run(self.one_sync, *item)
                except BaseException as exc:  # KeyboardInterrupt raised inside a target
                    failure.append(exc)
                    stop.set()
                    return
                with lock:
                    self.run.results.append(result)
                    progress.advance()

        # Targets mostly wait on I/O; a thread that wakes needs the GIL back, and at the default
        # 5 ms switch interval it queues behind whoever holds it: measured 1.53x the ideal wall
        # time at concurrency 32, 1.26x at 1 ms. Lowered for this run only, then restored.
        saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(saved_interval, 0.001))
        try:
            self._run_workers(worker, len(work), show, stop)
        finally:
            sys.setswitchinterval(saved_interval)
        if failure:
            raise failure[0]

    def _run_workers(self, worker: Any, total: int, show: bool, stop: threading.Event) -> None:
        with _Progress(total, self.suite.name, show) as progress:
            threads = [
                threading.Thread(target=worker, args=(progress,), name=f"llmtrace-eval-{i}")
                for i in range(min(self.run.concurrency, total))
            ]
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            except BaseException:  # Ctrl-C, also while the workers are still being started
                stop.set()  # finish the items in flight, start no more
                for thread in threads:
                    if thread.ident is not None:
                        thread.join()
                raise

    async def run_async(self, work: list[tuple[Example, int]], show: bool) -> None:
        semaphore = asyncio.Semaphore(self.run.concurrency)

        async def bounded(example: Example, epoch: int) -> None:
            async with semaphore:
                self.run.results.append(await self.one_async(example, epoch))
                progress.advance()

        with _Progress(len(work), self.suite.name, show) as progress:
            await asyncio.gather(*(bounded(ex, epoch) for ex, epoch in work))


class _Progress:
    """A rich progress bar on a terminal; nothing in CI logs."""

    def __init__(self, total: int, label: str, show: bool) -> None:
        self.show = show
        self.total = total
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.show:
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task(f"eval {self.label}", total=self.total)
        return self

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
