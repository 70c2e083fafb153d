"""CLI start-up (#19): ``--help`` and the read commands import neither pydantic nor the help's
unused markdown and traceback renderers, and what they print and accept is still typer's."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from llmtrace.cli._coerce import install_params, quick_conversion
from llmtrace.cli._lazy import LazyGroup
from tests.conftest import run_python

_RUN_AND_LIST = """
import json, sys
{before}
from llmtrace.cli import main
try:
    main({args!r})
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""
_UNUSED_BY_HELP = {"pydantic", "rich.markdown", "markdown_it", "rich.traceback", "pygments"}


def _run(*args: str, before: str = "", color: bool = False) -> tuple[int, str, set[str]]:
    env = {"COLUMNS": "100"} | ({"FORCE_COLOR": "1"} if color else {})
    done = run_python(_RUN_AND_LIST.format(args=list(args), before=before), env=env)
    *printed, last = done.stdout.splitlines()
    result = json.loads(last)
    return result["code"], "\n".join(printed), set(result["modules"])


def _store(tmp_path: Path) -> Path:
    from llmtrace.store import connect_write

    db = tmp_path / "t.duckdb"
    connect_write(db).close()
    return db


@pytest.mark.parametrize("args", [["--help"], ["sql", "--help"], ["stats", "--help"]])
def test_help_imports_neither_pydantic_nor_markdown_and_reads_as_typer_draws_it(args):
    code, fast, modules = _run(*args, color=True)
    assert code == 0 and "Usage:" in fast
    assert not _UNUSED_BY_HELP & modules
    assert not {"duckdb", "llmtrace.store"} & modules  # a command's help opens no store
    # typer's own drawing: typer.rich_utils imported as typer imports it, before llmtrace
    _, typer_drawn, typer_modules = _run(*args, before="import typer.rich_utils", color=True)
    assert "rich.markdown" in typer_modules  # the comparison is with the real thing
    assert fast == typer_drawn


@pytest.mark.parametrize(
    "args",
    [
        ["sql", "SELECT count(*) AS n FROM spans", "--format", "json"],
        ["stats", "--by", "model,user", "--since", "7d", "--format", "csv"],
        ["traces", "--limit", "5", "--format", "json"],
    ],
)
def test_read_commands_import_no_pydantic(tmp_path, args):
    code, out, modules = _run(*args, "--db", str(_store(tmp_path)))
    assert code == 0, out
    assert not {"pydantic", "pyarrow", "llmtrace.evals", "opentelemetry"} & modules


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_a_plain_table_or_csv_loads_no_rich(tmp_path, fmt):
    sql = "SELECT 'gpt-4o' AS model, 3 AS n, 0.25 AS cost"
    code, out, modules = _run("sql", sql, "--db", str(_store(tmp_path)), "--format", fmt)
    assert code == 0 and "gpt-4o" in out
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}


def test_listing_traces_loads_no_rich(tmp_path):
    code, out, modules = _run("traces", "--db", str(_store(tmp_path)))
    assert code == 0 and "(no rows)" in out
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "gpt-4o",
        "a b  c",
        "~!@#$%^&*()_+{}|:<>?",
        "\x7f",
        "tab\there",
        "esc\x1b[0m",
        "héllo",
        "日本語",
        "emoji 🙂 ok",
        "e\u0301",
        "\u200b",
        "x" * 600,
    ],
)
def test_cell_widths_are_richs(text):
    from rich.cells import cell_len, set_cell_size

    from llmtrace.cli import _table

    assert _table.cell_len(text) == cell_len(text)
    for total in (-1, 0, 1, 3, 8, 700):
        assert _table.set_cell_size(text, total) == set_cell_size(text, total), total


def test_a_bad_value_is_still_typers_one_line_usage_error(tmp_path):
    done = run_python(
        f"from llmtrace.cli import main\nmain(['traces', '--limit', '0', '--db', '{tmp_path}'])"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "llmtrace: error: Invalid value for '--limit': Input should be greater than or equal "
        "to 1 (see: llmtrace traces --help)"
    ]


def test_the_stand_ins_forward_to_rich_for_anyone_else_in_the_process():
    done = run_python(
        """
        import sys
        from llmtrace.cli import _rich_help
        _rich_help.load()
        assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
        import rich.markdown, rich.traceback, typer.rich_utils as ru
        assert sys.modules["rich.markdown"].Markdown is not ru.Markdown  # the real module back
        assert isinstance(ru.Markdown("# hi"), rich.markdown.Markdown)
        try:
            1 / 0
        except ZeroDivisionError as exc:
            made = ru.Traceback.from_exception(type(exc), exc, exc.__traceback__)
        assert isinstance(made, rich.traceback.Traceback)
        import typer
        from typer.testing import CliRunner
        app = typer.Typer(rich_markup_mode="markdown")
        @app.command()
        def hello(name: str) -> None:
            '''Say **hello** to `name`.'''
        result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
        print(result.output)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "Say hello to name." in done.stdout  # markdown rendered: no ** or ` left


class _Colour(str, Enum):
    red = "red"
    green = "green"


def _command(
    text: str = "x",
    count: Annotated[int, typer.Option(min=1)] = 5,
    share: Annotated[float, typer.Option(min=0.5, max=0.999)] = 0.9,
    offset: int = 0,
    where: Path | None = None,
    colour: _Colour = _Colour.red,
    mode: Literal["binary", "interval"] = "binary",
    tags: list[str] | None = None,
    flag: bool = False,
) -> None:
    """Every kind of value llmtrace's commands take."""


_VALUES: dict[str, list[Any]] = {
    "text": ["hello", "", "ünï code", "  spaced ", "x" * 300, 7],
    "count": ["5", "1", "0", "-3", "007", "1_000", " 7", "1e3", "3.0", "+4", 5, 0, True, "9" * 30],
    "share": ["0.7", "0.5", "0.999", "1", "0.4", "abc", "1e-1", ".7", "0.90", 0.9, 1, "nan"],
    "offset": ["-0", "12", "-12", "abc", "", "٣"],
    "where": ["a/b.duckdb", "", "-", "/", "~/x", Path("x")],
    "colour": ["red", "RED", "blue", _Colour.green, "green", ""],
    "mode": ["binary", "interval", "Binary", "other"],
    "tags": [("a", "b"), ["x"], (), ("a", 1)],
    "flag": [True, False, "true", "no", "maybe"],
}


def _outcome(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        result = convert(value)
    except BadParameter as exc:
        return "error", exc.format_message()
    return type(result).__name__, result


@pytest.mark.parametrize("name", sorted(_VALUES))
def test_plain_conversion_gives_what_typers_own_gives_value_by_value(name):
    app = typer.Typer()
    app.command()(_command)
    command = typer.main.get_command(app)
    param = next(p for p in install_params(command.params) if p.name == name)
    ctx = Context(command)
    ours, typers = param._runtime_param, build_runtime_param(param.type_descriptor)
    assert type(ours).__name__ == "_Quick"
    for value in _VALUES[name]:
        expected = _outcome(lambda v: typers._coerce_value(v, param=param, ctx=ctx), value)
        got = _outcome(lambda v: ours._coerce_value(v, param=param, ctx=ctx), value)
        assert got == expected, value


def test_every_llmtrace_parameter_has_a_plain_conversion():
    def params(command: Any) -> list[Any]:
        found = list(command.params)
        for sub in getattr(command, "commands", {}).values():
            found += params(sub)
        return found

    without = [
        (name, p.name)
        for name, entry in LazyGroup.COMMANDS.items()
        for p in params(entry.load(name))
        if hasattr(p, "type_descriptor") and quick_conversion(p.type_descriptor) is None
    ]
    assert without == []


class _Recording:
    """A connection that records the SQL it is asked to run."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.executed = conn, []

    def table(self, name: str) -> Any:
        return self.conn.table(name)

    def execute(self, sql: str, *args: Any) -> Any:
        self.executed.append(sql)
        return self.conn.execute(sql, *args)


def test_an_llmtrace_store_is_recognised_without_a_catalog_query(tmp_path):
    import duckdb

    from llmtrace.cli._store import check_tables
    from llmtrace.errors import StoreUnusable

    ours = _store(tmp_path)
    foreign, empty = tmp_path / "foreign.duckdb", tmp_path / "empty.duckdb"
    with duckdb.connect(str(foreign)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    duckdb.connect(str(empty)).close()
    for path, refused, queried in (
        (ours, False, False),
        (empty, False, True),
        (foreign, True, True),
    ):
        with duckdb.connect(str(path), read_only=True) as conn:
            recording = _Recording(conn)
            if refused:
                with pytest.raises(StoreUnusable, match="another application's DuckDB file"):
                    check_tables(recording, path)  # type: ignore[arg-type]
            else:
                check_tables(recording, path)  # type: ignore[arg-type]
        assert bool(recording.executed) is queried, path.name


_FREEZE_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen:", gc.get_freeze_count() > 0, file=sys.stderr))
from llmtrace.cli import main
if sys.argv[1] == "own":
    sys.argv = ["llmtrace", *sys.argv[2:]]
    main()
main(sys.argv[2:])
"""


@pytest.mark.parametrize("how", ["own", "called"])
def test_as_its_own_process_the_cli_freezes_the_heap_after_its_exit_handlers(tmp_path, how):
    import subprocess
    import sys

    db = str(_store(tmp_path))
    ok = subprocess.run(
        [
            sys.executable,
            "-c",
            _FREEZE_PROBE,
            how,
            "sql",
            "SELECT 42 AS answer",
            "--db",
            db,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (ok.returncode, json.loads(ok.stdout)) == (0, [{"answer": 42}])
    assert ok.stderr.strip() == f"frozen: {how == 'own'}"  # main(argv) in a program: no freeze
    bad = subprocess.run(
        [sys.executable, "-c", _FREEZE_PROBE, how, "stats", "--kind", "nope", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    error, frozen = bad.stderr.strip().splitlines()  # one line of error, no traceback
    assert error.startswith("llmtrace: error: --kind 'nope': choose from all, ")
    assert frozen == f"frozen: {how == 'own'}"


def test_a_typer_that_wants_more_of_rich_gets_the_real_modules():
    done = run_python(
        """
        import sys
        from llmtrace.cli import _rich_help
        _rich_help._STAND_INS["rich.markdown"] = ("NotWhatTyperImports", object)
        _rich_help.load()
        import typer.rich_utils as ru
        assert ru.Markdown is sys.modules["rich.markdown"].Markdown  # the real class
        print("ok")
        """
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_typer_with_another_runtime_param_keeps_its_own_conversion(monkeypatch):
    from llmtrace.cli import _coerce

    def other_fields(**fields: Any) -> Any:
        raise TypeError("unexpected keyword argument 'descriptor'")

    monkeypatch.setattr(_coerce, "_Quick", other_fields)
    app = typer.Typer()
    app.command()(_command)
    params = install_params(typer.main.get_command(app).params)
    assert [p._runtime_param for p in params] == [None] * len(params)
