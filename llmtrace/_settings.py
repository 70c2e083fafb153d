"""What ``configure()`` was asked for, resolved once: the keyword when given, else the first
environment variable set (LLMTRACE_*, then the standard OTEL_*), else the default. The
:data:`SETTINGS` table is the one place that says which variables feed which keyword."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

from .redaction import DEFAULT_MAX_CHARS

__all__ = ["DEFAULT_DB", "SETTINGS", "UNSET", "OtlpProtocol", "Settings", "resolve"]

DEFAULT_DB = "llmtrace.duckdb"
OtlpProtocol = Literal["grpc", "http/protobuf"]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()

# keyword: (environment variables in order of precedence, default)
SETTINGS: dict[str, tuple[tuple[str, ...], object]] = {
    "service_name": (("OTEL_SERVICE_NAME",), None),
    "db": (("LLMTRACE_DB",), DEFAULT_DB),
    "otlp_endpoint": (("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"), None),
    "otlp_protocol": (
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        "http/protobuf",
    ),
    "capture_content": (
        ("LLMTRACE_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
        False,
    ),
    "sample_ratio": (("LLMTRACE_SAMPLE_RATIO",), 1.0),
}


def _setting(name: str, given: object) -> object:
    """``given`` unless it is UNSET (or None, for keywords where None means "not given")."""
    if given is not UNSET and given is not None:
        return given
    if given is None and name in ("db", "otlp_endpoint"):
        return None  # None turns these off explicitly
    for variable in SETTINGS[name][0]:
        value = os.environ.get(variable)
        if value not in (None, ""):
            return value
    return SETTINGS[name][1]


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name}: expected true or false, got {value!r}")


class Settings(NamedTuple):
    """Everything ``configure()`` needs, validated before anything changes. (A named tuple: a
    frozen dataclass cost every configuring process ~0.7 ms more to define.)"""

    service_name: str | None
    db: Path | None
    otlp_endpoint: str | None
    otlp_protocol: OtlpProtocol
    sample_ratio: float
    capture_content: bool
    user_prices: dict[str, Any]
    redact_patterns: list[str] | dict[str, str] | None = None
    max_content_chars: int = DEFAULT_MAX_CHARS


def _user_prices(prices: str | os.PathLike[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``configure(prices=...)`` parsed; the pricing module loads only when there are some."""
    if prices is None:
        return {}
    from .pricing import load_user_prices

    return load_user_prices(prices if isinstance(prices, dict) else Path(prices))


def resolve(
    *,
    service_name: str | None,
    db: object,
    otlp_endpoint: object,
    otlp_protocol: str | None,
    sample_ratio: float | None,
    capture_content: bool | None,
    prices: str | os.PathLike[str] | dict[str, Any] | None,
    redact_patterns: list[str] | dict[str, str] | None,
    max_content_chars: int,
) -> Settings:
    """The settings, each from its keyword, environment or default; a bad value raises
    ``ValueError`` naming the keyword."""
    protocol = str(_setting("otlp_protocol", otlp_protocol))
    if protocol not in ("grpc", "http/protobuf"):
        raise ValueError(f"otlp_protocol must be 'grpc' or 'http/protobuf', got {protocol!r}")
    raw_ratio = _setting("sample_ratio", sample_ratio)
    try:
        ratio = float(raw_ratio)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"sample_ratio must be a number, got {raw_ratio!r}") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"sample_ratio must be between 0 and 1, got {ratio!r}")
    resolved_db = _setting("db", db)
    endpoint = _setting("otlp_endpoint", otlp_endpoint)
    service = _setting("service_name", service_name)
    return Settings(
        service_name=None if service is None else str(service),
        db=None if resolved_db is None else Path(str(resolved_db)),
        otlp_endpoint=None if not endpoint else str(endpoint),
        otlp_protocol=protocol,  # type: ignore[arg-type]
        sample_ratio=ratio,
        capture_content=_flag(_setting("capture_content", capture_content), "capture_content"),
        user_prices=_user_prices(prices),
        redact_patterns=redact_patterns,
        max_content_chars=max_content_chars,
    )
