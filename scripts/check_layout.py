"""The layout rules `make lint` keeps true (ARCHITECTURE.md says why each exists):

- no module over 400 lines;
- no function over 60 lines outside the CLI (a command's options are one long signature);
- no OpenTelemetry import in ``llmtrace/store/`` (the store knows DuckDB, not spans);
- no import cycles between llmtrace's modules (imports inside functions included: they are
  still dependencies);
- (every ``__all__`` sorted is ruff's RUF022, in the same ``make lint``).

Run: ``python scripts/check_layout.py``; exit 1 with one line per violation.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llmtrace"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(name: str, path: Path, tree: ast.AST) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("llmtrace"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module.startswith("llmtrace"):
                found.add(module)
                found.update(f"{module}.{a.name}" for a in node.names)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def check() -> list[str]:
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    names = {name for name, _ in modules()}
    for name, path in modules():
        text = path.read_text()
        tree = ast.parse(text)
        rel = path.relative_to(ROOT)
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_MODULE_LINES})")
        in_cli = name.startswith("llmtrace.cli")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not in_cli:
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{rel}:{node.lineno}: {node.name}() is {length} lines "
                        f"(at most {MAX_FUNCTION_LINES})"
                    )
        if name.startswith("llmtrace.store"):
            for node in ast.walk(tree):
                imported = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(m.startswith("opentelemetry") for m in imported):
                    problems.append(f"{rel}:{node.lineno}: OpenTelemetry imported in store/")
        graph[name] = {m for m in _imports(name, path, tree) if m in names and m != name}
    # A package's __init__ re-exporting its own modules is not a cycle of logic.
    for name in list(graph):
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    for cycle in _cycles(graph):
        problems.append("import cycle: " + " <-> ".join(cycle))
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
