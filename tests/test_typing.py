"""The decorators keep the decorated function's signature for type checkers, in both the
``@llm`` and ``@llm(...)`` forms (mypy --strict run on a snippet)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SNIPPET = textwrap.dedent("""
    import llmtrace

    @llmtrace.llm
    def bare(prompt: str) -> int:
        return len(prompt)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def called(prompt: str, temperature: float = 0.0) -> str:
        return prompt

    @llmtrace.tool
    def bare_tool(x: int) -> int:
        return x

    @llmtrace.workflow("flow")
    async def flow(n: int) -> list[int]:
        return [n]

    @llmtrace.retrieval(index="kb")
    def search(q: str) -> list[str]:
        return [q]

    ok_1: int = bare("x")
    ok_2: str = called("x", temperature=0.5)
    ok_3: int = bare_tool(1)
    ok_4: list[str] = search("q")

    async def use() -> list[int]:
        return await flow(1)

    bad_1: str = bare("x")            # int is not str
    bad_2 = called(1)                 # int is not str
    bad_3 = search("q", "extra")      # too many arguments
""")


def test_decorated_functions_keep_their_signatures(tmp_path):
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    lines = sorted(int(line.split(":")[1]) for line in errors)
    expected = [n for n, text in enumerate(SNIPPET.splitlines(), start=1) if "bad_" in text]
    assert lines == expected, done.stdout
