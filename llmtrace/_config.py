"""``llmtrace.configure()``: arguments, then LLMTRACE_*/OTEL_* variables, then defaults.

llmtrace never replaces an application's OpenTelemetry set-up: when an SDK ``TracerProvider``
is already installed globally, our processors are added to it (its sampler and resource stay in
charge); otherwise llmtrace creates one and installs it globally. All our processors sit behind
one :class:`Pipeline` added to the provider once, so calling ``configure()`` again swaps the
pipeline's contents instead of duplicating spans.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from ._instrument import check_libraries, instrument_libraries
from ._settings import UNSET, OtlpProtocol, Settings, resolve
from ._tracing.context import install_thread_pool_propagation
from ._tracing.processors import ContextStampingProcessor, CountingBatchSpanProcessor, Pipeline
from ._tracing.runtime import TRACER_NAME, _version, install_prices, runtime, sdk_disabled
from ._tracing.sampling import sampler_for
from .redaction import DEFAULT_MAX_CHARS, Redactor

__all__ = ["TracingHandle", "configure"]


_pipeline = Pipeline()
_configured = False


def is_configured() -> bool:
    """True once ``configure()`` has run in this process."""
    return _configured


def flush_pipeline(timeout_millis: int = 30_000) -> bool:
    """Export every span finished so far through llmtrace's processors."""
    return _pipeline.force_flush(timeout_millis)


def flush_store(timeout_millis: int = 10_000) -> bool:
    """Export finished spans to the DuckDB store only: a reader must not wait on a collector."""
    from .exporters.duckdb import DuckDBSpanExporter

    return all(
        child.force_flush(timeout_millis)
        for child in _pipeline.children
        if isinstance(getattr(child, "span_exporter", None), DuckDBSpanExporter)
    )


_own_provider: TracerProvider | None = None
_configure_lock = threading.Lock()
_atexit_registered = False


@dataclass
class TracingHandle:
    """What ``configure()`` returns: flush or shut down the spans llmtrace exports."""

    provider: TracerProvider | None
    db_path: Path | None
    otlp_endpoint: str | None
    joined_existing_provider: bool
    exporters: tuple[SpanExporter, ...] = ()

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every finished span now; True when everything was exported in time."""
        return _pipeline.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop llmtrace's exporters (the provider itself stays usable)."""
        _pipeline.shutdown()

    @property
    def dropped_spans(self) -> dict[str, int]:
        """Spans lost so far, by exporter class name: dropped by its full queue, or spans the
        exporter could neither store nor keep on disk (an unconvertible value, a full disk).
        Spans kept on disk for a later merge are not lost and not counted here; ``flush()``
        returns False while they wait."""
        return {
            type(child.span_exporter).__name__: child.dropped_spans
            + int(getattr(child.span_exporter, "lost_spans", 0))
            for child in _pipeline.counted
            if isinstance(child, CountingBatchSpanProcessor)
        }


def _resource(service_name: str | None) -> Resource:
    attributes: dict[str, Any] = {"telemetry.distro.name": "llmtrace"}
    attributes["telemetry.distro.version"] = _version()
    if service_name:
        attributes[SERVICE_NAME] = service_name
    return Resource.create(attributes)


def _provider(service_name: str | None, sample_ratio: float) -> tuple[TracerProvider, bool]:
    """The SDK provider to join, or a new one installed globally. True when joined."""
    global _own_provider
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider) and existing is not _own_provider:
        return existing, True
    provider = TracerProvider(resource=_resource(service_name), sampler=sampler_for(sample_ratio))
    provider.add_span_processor(_pipeline)
    if _own_provider is None:
        trace.set_tracer_provider(provider)
    _own_provider = provider
    return provider, False


def configure(
    *,
    service_name: str | None = None,
    db: str | os.PathLike[str] | None = UNSET,
    otlp_endpoint: str | None = UNSET,
    otlp_protocol: OtlpProtocol | None = None,
    otlp_headers: dict[str, str] | None = None,
    otlp_timeout_s: float | None = None,
    otlp_compression: Literal["gzip", "none"] | None = None,
    capture_content: bool | None = None,
    redact_patterns: list[str] | dict[str, str] | None = None,
    max_content_chars: int = DEFAULT_MAX_CHARS,
    prices: str | os.PathLike[str] | dict[str, Any] | None = None,
    sample_ratio: float | None = None,
    extra_exporters: tuple[SpanExporter, ...] = (),
    instrument: tuple[str, ...] | list[str] = (),
) -> TracingHandle:
    """Send llmtrace spans to a DuckDB file (default ``./llmtrace.duckdb``) and/or OTLP.

    Args:
        service_name: ``service.name`` of a provider llmtrace creates (else OTEL_SERVICE_NAME).
        db: the DuckDB file; ``None`` turns the store off (else LLMTRACE_DB).
        otlp_endpoint: a collector URL; the standard OTEL_EXPORTER_OTLP_* variables apply.
        otlp_protocol: ``"grpc"`` or ``"http/protobuf"`` (the default).
        capture_content: record prompts and completions, redacted (off by default).
        redact_patterns: extra regexes hidden from captured content, beside the defaults.
        prices: a dict or JSON/YAML file of model -> USD per million tokens, over genai-prices.
        sample_ratio: head sampling ratio for a provider llmtrace creates.
        extra_exporters: more exporters, each behind its own batch processor.
        instrument: clients to trace without decorators, e.g. ``["openai", "anthropic"]``.

    Returns a handle with ``.flush()`` and ``.shutdown()``; spans are also flushed at exit.
    Each keyword's environment variables are in ``llmtrace._settings.SETTINGS``.
    """
    with _configure_lock:
        settings = resolve(
            service_name=service_name,
            db=db,
            otlp_endpoint=otlp_endpoint,
            otlp_protocol=otlp_protocol,
            sample_ratio=sample_ratio,
            capture_content=capture_content,
            prices=prices,
            redact_patterns=redact_patterns,
            max_content_chars=max_content_chars,
        )  # validate before changing anything
        _apply_to_runtime(settings, instrument)
        runtime.enabled = not sdk_disabled()
        if not runtime.enabled:
            return TracingHandle(None, None, None, False)
        provider, joined = _provider(settings.service_name, settings.sample_ratio)
        if joined and not any(p is _pipeline for p in _registered(provider)):
            provider.add_span_processor(_pipeline)
        runtime.tracer = provider.get_tracer(TRACER_NAME, _version())
        exporters = (
            *_build_exporters(settings, otlp_headers, otlp_timeout_s, otlp_compression),
            *extra_exporters,
        )
        _install(exporters, instrument)
        return TracingHandle(provider, settings.db, settings.otlp_endpoint, joined, exporters)


def _apply_to_runtime(settings: Settings, instrument: tuple[str, ...] | list[str]) -> None:
    check_libraries(instrument, "configure(instrument=...)")  # the last check: nothing changed yet
    runtime.capture_content = settings.capture_content
    runtime.redactor = Redactor.with_extra(settings.redact_patterns, settings.max_content_chars)
    install_prices(settings.user_prices)  # pricing loads here only for the user's prices
    runtime.db_path = None if settings.db is None else str(settings.db)
    install_thread_pool_propagation()
    # Nothing is warmed here: the token encoding loads when a call first has to be estimated
    # and the price table when a span is first priced, both on an exporter thread (late.py).


def _build_exporters(
    settings: Settings,
    headers: dict[str, str] | None,
    timeout_s: float | None,
    compression: Literal["gzip", "none"] | None,
) -> list[SpanExporter]:
    """The store's exporter and the collector's, as the settings ask."""
    exporters: list[SpanExporter] = []
    if settings.db is not None:
        from .exporters.duckdb import DuckDBSpanExporter

        exporters.append(DuckDBSpanExporter(settings.db, warm_merger=True))
    if settings.otlp_endpoint:
        from .exporters.otlp import otlp_exporter

        exporters.append(
            otlp_exporter(
                endpoint=settings.otlp_endpoint,
                protocol=settings.otlp_protocol,
                headers=headers,
                timeout_s=timeout_s,
                compression=compression,
            )
        )
    return exporters


def _install(exporters: tuple[SpanExporter, ...], instrument: tuple[str, ...] | list[str]) -> None:
    """Swap the pipeline's processors for these exporters' (once: flush at exit and forks), then
    trace the client libraries asked for."""
    global _atexit_registered, _configured
    children: tuple[SpanProcessor, ...] = (
        ContextStampingProcessor(),
        *(_batch_processor(exporter) for exporter in exporters),
    )
    for old in _pipeline.replace(children):
        old.shutdown()
    if not _atexit_registered:
        atexit.register(_pipeline.shutdown)
        os.register_at_fork(after_in_child=_flush_at_worker_exit)
        _atexit_registered = True
    _configured = True
    instrument_libraries(instrument)


def _flush_at_worker_exit() -> None:
    """In a forked child, have multiprocessing flush the spans before its worker exits: pool
    workers leave through ``os._exit``, which skips ``atexit``, but run multiprocessing's own
    finalizers first. (A child that calls ``os._exit`` itself must call ``handle.flush()``
    first; a worker killed by ``Pool.terminate()`` loses what it had not exported.)"""
    if "multiprocessing" not in sys.modules:
        return
    from multiprocessing import util

    # A starting worker clears the finalizers it inherited, then runs the after-fork hooks.
    util.register_after_fork(_pipeline, _flush_when_worker_exits)


def _flush_when_worker_exits(pipeline: Pipeline) -> None:
    from multiprocessing import util

    util.Finalize(None, pipeline.force_flush, args=(10_000,), exitpriority=100)


def warm_up() -> None:
    """Load the token encoding (~0.5 s) and the price table (~0.2 s) now, on this thread, for
    a caller that times what follows (an eval run's first example)."""
    from genai_prices import data_snapshot

    from .tokens import DEFAULT_ENCODING, get_encoding

    get_encoding(DEFAULT_ENCODING)
    data_snapshot.get_snapshot()


def _batch_processor(exporter: SpanExporter) -> CountingBatchSpanProcessor:
    """One bounded batch processor per exporter, so a slow collector never holds up the store
    or the application: each has its own queue and thread, and drops (counted) when full."""
    from .exporters.duckdb import RECOMMENDED_BATCH, DuckDBSpanExporter

    if isinstance(exporter, DuckDBSpanExporter) and not any(
        name.startswith("OTEL_BSP_") for name in os.environ
    ):
        return CountingBatchSpanProcessor(exporter, **RECOMMENDED_BATCH)
    return CountingBatchSpanProcessor(exporter)


def _registered(provider: TracerProvider) -> tuple[SpanProcessor, ...]:
    multi = getattr(provider, "_active_span_processor", None)
    return tuple(getattr(multi, "_span_processors", ()))
