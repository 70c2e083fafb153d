"""What an example-epoch saw and said, on its root span when content capture is on: the
example's input and expected answer and the target's output, redacted and truncated like model
content. A report then shows both runs' outputs without the dataset file, from the store or a
bundle; with capture off nothing is recorded."""

from __future__ import annotations

import json
from typing import Any

from .. import semconv as sc
from .._internal import guard
from .._tracing.runtime import runtime
from .dataset import Example

__all__ = ["record_example"]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def record_example(span: Any, example: Example, output: Any) -> None:
    """Set ``llmtrace.eval.input`` / ``expected`` / ``output`` on ``span`` (the run's root
    span for this example-epoch); a value that is None is left out (an errored target)."""
    if not runtime.capture_content:
        return
    with guard("evals.record_example"):
        attributes: dict[str, Any] = {}
        for key, value in (
            (sc.EVAL_INPUT, example.input),
            (sc.EVAL_EXPECTED, example.expected),
            (sc.EVAL_OUTPUT, output),
        ):
            if value is None:
                continue
            text, cut = runtime.redactor.apply(_text(value))
            attributes[key] = text
            if cut:
                attributes[sc.CONTENT_TRUNCATED] = True
        span.set_attributes(attributes)
