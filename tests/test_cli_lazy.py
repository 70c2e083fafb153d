"""The CLI imports a command's module only when that command runs (#19: ``--help`` fast)."""

from __future__ import annotations

import json
import os

import pytest

from llmtrace.cli import main
from llmtrace.cli._lazy import LazyGroup
from tests.conftest import run_python

_RUN_AND_LIST = """
import json, sys
from llmtrace.cli import main
try:
    main({args!r})
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def _run(*args: str) -> tuple[int, str, set[str]]:
    done = run_python(_RUN_AND_LIST.format(args=list(args)), env={"COLUMNS": "100"})
    *printed, last = done.stdout.splitlines()
    result = json.loads(last)
    return result["code"], "\n".join(printed), set(result["modules"])


def test_root_help_imports_no_command_module_no_tracing_and_no_storage():
    code, out, modules = _run("--help")
    assert code == 0
    for name in LazyGroup.COMMANDS:
        assert f" {name} " in out, name
    commands = {f"llmtrace.cli.{entry.module}" for entry in LazyGroup.COMMANDS.values()}
    heavy = {"llmtrace.evals", "llmtrace.store", "opentelemetry", "duckdb", "pyarrow", "numpy"}
    assert not (commands | heavy) & modules


def test_root_help_is_the_same_once_every_command_is_loaded(capsys, monkeypatch):
    _, lazy_help, _ = _run("--help")
    monkeypatch.setenv("COLUMNS", "100")
    for name, entry in LazyGroup.COMMANDS.items():
        entry.load(name)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.rstrip("\n") == lazy_help.rstrip("\n")


@pytest.mark.parametrize("name", sorted(LazyGroup.COMMANDS))
def test_each_summary_is_the_first_paragraph_of_the_commands_own_help(name):
    entry = LazyGroup.COMMANDS[name]
    command = entry.load(name)
    assert command.name == name
    first_paragraph = (command.help or "").split("\n\n")[0]
    assert " ".join(first_paragraph.split()) == entry.summary
    assert not [p.name for p in command.params if "completion" in (p.name or "")]  # as before


def test_a_command_imports_its_own_module_only(tmp_path):
    from llmtrace.store import connect_write

    db = tmp_path / "empty.duckdb"
    connect_write(db).close()  # an empty store, its schema made
    code, out, modules = _run("sql", "SELECT 42 AS answer", "--db", str(db), "--format", "json")
    assert (code, json.loads(out)) == (0, [{"answer": 42}])
    assert "llmtrace.cli.sql" in modules
    others = {f"llmtrace.cli.{e.module}" for e in LazyGroup.COMMANDS.values()} - {
        "llmtrace.cli.sql"
    }
    assert not others & modules
    assert not {"llmtrace.evals", "opentelemetry", "tiktoken", "pyarrow", "numpy"} & modules


def test_an_unknown_command_still_suggests_the_near_one():
    done = run_python("from llmtrace.cli import main\nmain(['stat'])", env={"COLUMNS": "100"})
    assert done.returncode == 2
    assert "No such command 'stat'" in done.stderr and "'stats'" in done.stderr
    assert os.linesep not in done.stderr.rstrip("\n")  # one line


def test_a_read_opens_the_store_once_and_still_refuses_a_foreign_file(
    tmp_path, monkeypatch, capsys
):
    import duckdb

    from llmtrace.store import connect_write
    from llmtrace.store import connection as store_connection
    from llmtrace.store import query as store_query

    opened: list[object] = []

    def counting(real):
        def connect(*args, **kwargs):
            opened.append(args[0])
            return real(*args, **kwargs)

        return connect

    # cli/_store.py imports connect_read when it checks a store: from store.connection
    monkeypatch.setattr(store_connection, "connect_read", counting(store_connection.connect_read))
    monkeypatch.setattr(store_query, "connect_read", counting(store_query.connect_read))
    ours = tmp_path / "ours.duckdb"
    connect_write(ours).close()
    with pytest.raises(SystemExit) as done:
        main(["sql", "SELECT 1 AS one", "--db", str(ours), "--format", "json"])
    assert (done.value.code, json.loads(capsys.readouterr().out)) == (0, [{"one": 1}])
    assert opened == [ours]
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(SystemExit) as done:
        main(["sql", "SELECT 1", "--db", str(foreign)])
    assert done.value.code == 2
    assert "another application's DuckDB file" in capsys.readouterr().err
