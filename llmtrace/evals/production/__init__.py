"""Production: gates over windows of stored traces, and drift between runs and windows.

Example:
    >>> from llmtrace import evals
    >>> evals.gate_traces("prod.yaml", window="24h", baseline="8d..1d").decision
    'pass'
"""

from .config import TraceGateConfig, TraceGateRule, load_trace_config
from .drift import drift
from .drift_result import DriftResult, FeatureDrift
from .result import TraceGateResult
from .trace_gate import gate_traces
from .trace_metrics import TraceGateError
from .windows import Window, WindowError, parse_window

__all__ = [
    "DriftResult",
    "FeatureDrift",
    "TraceGateConfig",
    "TraceGateError",
    "TraceGateResult",
    "TraceGateRule",
    "Window",
    "WindowError",
    "drift",
    "gate_traces",
    "load_trace_config",
    "parse_window",
]
