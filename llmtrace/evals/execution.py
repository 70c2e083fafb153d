"""Running one run's example-epochs: each in its own trace, on a thread pool (sync targets) or
one event loop (coroutines), with a progress bar and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from .._tracing.context import context
from .._tracing.kinds import workflow
from ..prompts import Prompt
from .dataset import Example
from .example_content import record_example
from .results import TARGET_SCORER, ExampleResult, Run
from .scorers import Score, Scorer

__all__ = ["Execution", "accepts", "show_progress"]


class SuiteParts(Protocol):
    """What running needs of a suite."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> Callable[..., Any]: ...
    @property
    def scorers(self) -> Sequence[Scorer]: ...
    @property
    def timeout_s(self) -> float | None: ...


def accepts(target: Callable[..., Any]) -> set[str]:
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {"model", "prompt", "params", "seed", "epoch"}
    return set(parameters)


def show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Execution:
    """Runs example-epochs of one run; one instance per ``Suite.run`` call."""

    def __init__(self, suite: SuiteParts, run: Run, prompt: Prompt | None) -> None:
        self.suite = suite
        self.run = run
        self.prompt = prompt
        self.accepts = accepts(suite.target)
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
        record_example(root, example, result.output)  # only when content capture is on
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
                from .._tracing.kinds import judge as judge_span

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

    @contextmanager
    def _attempt(self, example: Example, epoch: int, awaited: bool) -> Iterator[ExampleResult]:
        """One example-epoch, sync or async alike: its context and root span, the target's span
        around the block (which sets ``output``), its latency and error, then the scores."""
        result = ExampleResult(example.id, epoch)
        with self._context(example, epoch), self.root_spec as root:
            result.trace_id = root.trace_id
            start = time.perf_counter()
            try:
                with self.target_spec:
                    yield result
            except Exception as exc:
                result.error = self._describe(exc, awaited)
            result.latency_ms = (time.perf_counter() - start) * 1000
            timeout_s = self.suite.timeout_s
            if (
                not awaited
                and result.error is None
                and timeout_s is not None
                and result.latency_ms > timeout_s * 1e3
            ):
                # A thread cannot be interrupted: the answer came, but too late to count.
                result.output = None
                result.error = f"TimeoutError: answered after {result.latency_ms:.0f} ms"
            self._score(result, example, root)

    def _describe(self, exc: Exception, awaited: bool) -> str:
        if awaited and isinstance(exc, asyncio.TimeoutError):  # wait_for gave up on it
            return f"TimeoutError: no answer within {self.suite.timeout_s:g}s"
        return f"{type(exc).__name__}: {exc}"

    def one_sync(self, example: Example, epoch: int) -> ExampleResult:
        with self._attempt(example, epoch, awaited=False) as result:
            result.output = self.suite.target(example, **self._kwargs(epoch))
        return result

    async def one_async(self, example: Example, epoch: int) -> ExampleResult:
        with self._attempt(example, epoch, awaited=True) as result:
            call = self.suite.target(example, **self._kwargs(epoch))
            result.output = await asyncio.wait_for(call, self.suite.timeout_s)
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
