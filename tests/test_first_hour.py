"""The first hour of a new user (issue 15): every mistake gets one clear line and exit 2, every
table fits the terminal, and a stopped eval says so.

Each CLI test compares the whole outcome: exit code, stdout and stderr. Commands run in a real
process (``python -m llmtrace``), as CI runs them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT

SUITE = """
import os, time
import llmtrace
from llmtrace import evals

PROMPTS = [
    llmtrace.Prompt("answer", template="say {x}", version="v1"),
    llmtrace.Prompt("answer", template="repeat {x}", version="v2"),
]
SLEEP_S = float(os.environ.get("SUITE_SLEEP_S", "0"))


def target(example, prompt):
    ready = os.environ.get("SUITE_SIGNAL_READY")
    if ready and not os.path.exists(ready):
        open(ready, "w").close()
    time.sleep(SLEEP_S)
    with llmtrace.llm(model="gpt-4o-mini", provider="openai") as span:
        span.set_usage(input_tokens=12, output_tokens=3)
    with llmtrace.tool("lookup"):
        pass
    return str(example.input) if prompt.version == "v1" or example.input % 3 else "?"


suite = evals.Suite(
    name="first-hour",
    dataset=evals.Dataset.from_records(
        [{"input": i, "expected": str(i)} for i in range(int(os.environ.get("SUITE_N", "24")))],
        name="numbers",
    ),
    target=target,
    prompts=PROMPTS,
    scorers=[evals.exact_match()],
)
"""
GATES = "gates:\n  - metric: quality.exact_match\n    min: 0.2\n"


def env_for(db: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env.pop("COLUMNS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    if db is not None:
        env["LLMTRACE_DB"] = str(db)
    env.update(extra)
    return env


def llmtrace_cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else env_for(),
        timeout=timeout,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, nothing on stdout, and exactly ``llmtrace: error: <message>`` on stderr."""
    assert "Traceback" not in done.stderr, done.stderr
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"llmtrace: error: {message}\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A user's project: a suite module, a gates file and a store with two runs (v1, v2)."""
    root = tmp_path_factory.mktemp("project")
    (root / "suite_mod.py").write_text(SUITE)
    (root / "gates.yaml").write_text(GATES)
    db = root / "llmtrace.duckdb"
    ids = {}
    for version in ("v1", "v2"):
        done = llmtrace_cli(
            "eval",
            "suite_mod:suite",
            "--model",
            "gpt-4o-mini",
            "--prompt-version",
            version,
            cwd=root,
            env=env_for(db),
        )
        assert done.returncode == 0, done.stderr
        ids[version] = done.stdout.splitlines()[-1]
    return {"root": root, "db": db, "ids": ids}


# --- bad --db, of every sort --------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "a_folder").mkdir()
    (folder / "text.duckdb").write_text("hello\n")
    (folder / "empty.duckdb").write_bytes(b"")
    other = folder / "other_app.duckdb"
    conn = duckdb.connect(str(other))
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    return {
        "folder": folder / "a_folder",
        "text": folder / "text.duckdb",
        "empty": folder / "empty.duckdb",
        "other": other,
        "uncreatable": folder / "text.duckdb" / "sub" / "x.duckdb",
    }


BAD_DB_MESSAGES = {
    "folder": "--db {p} is a folder; give a file path, like {p}/llmtrace.duckdb",
    "text": "--db {p} is not a DuckDB file",
    "empty": "--db {p} is an empty file, not an llmtrace store",
    "other": "--db {p} is another application's DuckDB file (no llmtrace tables); "
    "give llmtrace a file of its own",
    "uncreatable": "--db {p}: cannot create it: Not a directory",
}


@pytest.mark.parametrize("kind", ["folder", "text", "empty", "other"])
@pytest.mark.parametrize("command", ["export", "sql", "traces"])
def test_reading_a_bad_db_is_one_line(bad_paths, tmp_path, kind, command):
    path = bad_paths[kind]
    args = {
        "export": ["export", "--parquet", str(tmp_path / "out")],
        "sql": ["sql", "SELECT 1"],
        "traces": ["traces"],
    }[command]
    done = llmtrace_cli(*args, "--db", str(path))
    assert_one_line_error(done, BAD_DB_MESSAGES[kind].format(p=path))


@pytest.mark.parametrize("kind", ["folder", "text", "other", "uncreatable"])
def test_eval_on_a_bad_db_is_one_line_before_any_example_runs(project, bad_paths, kind):
    path = bad_paths[kind]
    done = llmtrace_cli(
        "eval",
        "suite_mod:suite",
        "--model",
        "m",
        "--prompt-version",
        "v1",
        "--db",
        str(path),
        cwd=project["root"],
    )
    assert_one_line_error(done, BAD_DB_MESSAGES[kind].format(p=path))


@pytest.mark.parametrize("kind", ["folder", "text", "other", "empty"])
def test_gate_on_a_bad_db_is_one_line(project, bad_paths, kind):
    path = bad_paths[kind]
    done = llmtrace_cli(
        "gate",
        "--config",
        "gates.yaml",
        "--candidate",
        "abc",
        "--db",
        str(path),
        cwd=project["root"],
    )
    assert_one_line_error(done, BAD_DB_MESSAGES[kind].format(p=path))
    if kind == "other":  # nothing of llmtrace's was added to the other application's file
        conn = duckdb.connect(str(path), read_only=True)
        tables = conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        conn.close()
        assert tables == [("customers",)]


# --- SQL ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", 'empty SQL: give a query, like "SELECT * FROM traces LIMIT 5"'),
        ("   ", 'empty SQL: give a query, like "SELECT * FROM traces LIMIT 5"'),
        (";", "no SQL statement in ';'"),
        ("-- hi", "no SQL statement in '-- hi'"),
    ],
)
def test_empty_sql_is_one_line(project, query, message):
    done = llmtrace_cli("sql", "--db", str(project["db"]), "--", query)
    assert_one_line_error(done, message)


def test_empty_sql_result_still_names_its_columns(project):
    done = llmtrace_cli(
        "sql",
        "SELECT model, count(*) AS calls FROM llm_calls WHERE false GROUP BY 1",
        "--db",
        str(project["db"]),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "model  calls\n─────  ─────\n(no rows)\n"


# --- gate -----------------------------------------------------------------------------------
def test_gate_takes_run_prefixes_and_creates_report_folders(project):
    root, ids = project["root"], project["ids"]
    report = root / "reports" / "nested" / "gate.md"
    done = llmtrace_cli(
        "gate",
        "--config",
        "gates.yaml",
        "--candidate",
        ids["v2"][:6],
        "--baseline",
        ids["v1"][:6],
        "--markdown",
        str(report),
        cwd=root,
        env=env_for(project["db"]),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == (f"gate: candidate {ids['v2']} vs baseline {ids['v1']}")
    assert done.stdout.splitlines()[-1] == "decision: pass"
    assert report.read_text().startswith("#")


def test_gate_report_path_that_is_a_folder_stores_nothing(project):
    root, ids = project["root"], project["ids"]
    folder = root / "a_report_folder"
    folder.mkdir(exist_ok=True)
    before = gate_rows(project["db"])
    done = llmtrace_cli(
        "gate",
        "--config",
        "gates.yaml",
        "--candidate",
        ids["v2"],
        "--junit",
        str(folder),
        cwd=root,
        env=env_for(project["db"]),
    )
    assert_one_line_error(
        done, f"--junit {folder} is a folder; give a file path, like {folder}/gate.xml"
    )
    assert gate_rows(project["db"]) == before


def gate_rows(db: Path) -> int:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return int(conn.execute("SELECT count(*) FROM gate_results").fetchall()[0][0])
    finally:
        conn.close()


def test_step_summary_in_a_missing_folder_warns_and_keeps_the_gates_exit_code(project):
    root, ids = project["root"], project["ids"]
    summary = root / "missing" / "summary.md"
    done = llmtrace_cli(
        "gate",
        "--config",
        "gates.yaml",
        "--candidate",
        ids["v1"],
        cwd=root,
        env=env_for(project["db"], GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert done.returncode == 0
    assert done.stderr == (
        f"llmtrace: warning: GITHUB_STEP_SUMMARY={summary}: not written: "
        "No such file or directory\n"
    )


def test_failed_gate_is_exit_1_with_one_line(project):
    root, ids = project["root"], project["ids"]
    (root / "strict.yaml").write_text("gates:\n  - metric: quality.exact_match\n    min: 0.99\n")
    done = llmtrace_cli(
        "gate",
        "--config",
        "strict.yaml",
        "--candidate",
        ids["v2"],
        cwd=root,
        env=env_for(project["db"]),
    )
    assert (done.returncode, done.stderr) == (1, "llmtrace: gate failed: 1 rule failed\n")
    assert done.stdout.splitlines()[-1] == "decision: fail"


# --- eval -------------------------------------------------------------------------------------
def test_eval_whose_module_raises_on_import_is_one_line(tmp_path):
    (tmp_path / "broken.py").write_text("import json\nraise RuntimeError('no API key')\n")
    done = llmtrace_cli("eval", "broken:suite", "--model", "m", cwd=tmp_path, env=env_for())
    path = tmp_path / "broken.py"
    assert_one_line_error(
        done, f"importing 'broken' raised RuntimeError: no API key ({path}, line 2)"
    )


def test_eval_without_prompt_version_on_a_suite_with_prompts_refuses(project, tmp_path):
    done = llmtrace_cli(
        "eval",
        "suite_mod:suite",
        "--model",
        "m",
        "--db",
        str(tmp_path / "x.duckdb"),
        cwd=project["root"],
    )
    assert_one_line_error(
        done,
        "suite 'first-hour' declares prompts v1, v2: choose one with prompt= "
        "(llmtrace eval: --prompt-version)",
    )


def test_eval_where_every_example_fails_does_not_say_completed(tmp_path):
    (tmp_path / "failing.py").write_text(
        textwrap.dedent(
            """
            from llmtrace import evals
            def target(example):
                raise KeyError("OPENAI_API_KEY")
            suite = evals.Suite(
                name="failing",
                dataset=evals.Dataset.from_records([{"input": i} for i in range(3)], name="d"),
                target=target,
            )
            """
        )
    )
    done = llmtrace_cli(
        "eval", "failing:suite", "--model", "m", cwd=tmp_path, env=env_for(tmp_path / "f.duckdb")
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert re.fullmatch(
        r"llmtrace: error: run [0-9a-f]{16}: every example-epoch failed, "
        r"first with KeyError: 'OPENAI_API_KEY'",
        line,
    )
    assert "3 example-epochs, 3 failed (100%)" in done.stdout


@pytest.mark.parametrize(
    ("signum", "code", "times"),
    [(signal.SIGINT, 130, 1), (signal.SIGTERM, 143, 1), (signal.SIGINT, 130, 3)],
    ids=["sigint", "sigterm", "impatient-ctrl-c"],
)
def test_real_signal_stops_eval_incomplete(project, tmp_path, signum, code, times):
    db = tmp_path / "stopped.duckdb"
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmtrace",
            "eval",
            "suite_mod:suite",
            "--model",
            "m",
            "--prompt-version",
            "v1",
            "--concurrency",
            "2",
        ],
        cwd=project["root"],
        env=env_for(db, SUITE_SLEEP_S="0.05", SUITE_N="400", SUITE_SIGNAL_READY=str(ready)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(times):  # pressed again while it stops: still stored, still incomplete
        process.send_signal(signum)
        time.sleep(0.03)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    conn = duckdb.connect(str(db), read_only=True)
    [(run_id, status, kept)] = conn.execute(
        "SELECT run_id, status, (SELECT count(*) FROM eval_results e "
        "WHERE e.run_id = r.run_id AND scorer = 'target') FROM eval_runs r"
    ).fetchall()
    conn.close()
    assert status == "incomplete" and 1 <= kept < 400
    name = signal.Signals(signum).name
    assert stderr == (
        f"llmtrace: run {run_id} incomplete: stopped by {name} after {kept} of 400 example-epochs\n"
    )
    assert "status incomplete" in stdout


def test_suite_run_without_configure_stores_spans_in_llmtrace_db(project, tmp_path):
    db = tmp_path / "implicit.duckdb"
    script = textwrap.dedent(
        """
        import suite_mod
        run = suite_mod.suite.run(model="m", prompt=suite_mod.PROMPTS[0])
        print(run.id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project["root"],
        env=env_for(db, SUITE_N="3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    conn = duckdb.connect(str(db), read_only=True)
    [(spans,)] = conn.execute(
        "SELECT count(*) FROM spans WHERE eval_run_id = ?", [done.stdout.strip()]
    ).fetchall()
    conn.close()
    assert spans == 3 * 4  # root, target, llm and tool span per example


# --- CLI basics -------------------------------------------------------------------------------
def test_version():
    from llmtrace._tracing.runtime import _version

    done = llmtrace_cli("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"llmtrace {_version()}\n", "")


def test_bare_command_shows_help_without_an_empty_error():
    done = llmtrace_cli()
    assert done.returncode == 2 and "Usage: llmtrace" in done.stdout + done.stderr
    assert "error" not in done.stderr


def _command_paths() -> list[list[str]]:
    """Every command of the CLI, sub-commands included (``bundle export``)."""
    import typer

    from llmtrace.cli import app

    paths: list[list[str]] = []

    def walk(group, prefix):
        for name, command in sorted(getattr(group, "commands", {}).items()):
            paths.append([*prefix, name])
            walk(command, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_commands_help_shows_no_bool_metavar_and_plain_argument_names(capsys, monkeypatch):
    from llmtrace.cli import main

    monkeypatch.setenv("COLUMNS", "100")
    paths = _command_paths()
    assert ["eval"] in paths and ["sql"] in paths and len(paths) >= 7
    for path in [[], *paths]:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        out, err = capsys.readouterr()
        assert (exit_info.value.code, err) == (0, ""), path
        [usage] = [line for line in out.splitlines() if "Usage:" in line]
        assert "<bool>" not in out and "{" not in usage, (path, out)
        if path == ["eval"]:
            assert "Usage: llmtrace eval [OPTIONS] MODULE:SUITE" in out
            assert "Where the suite is" in out
        if path == ["sql"]:
            assert "Usage: llmtrace sql [OPTIONS] QUERY" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["traces", "--limit", "-1"],
            "Invalid value for '--limit': Input should be greater than or equal to 1 "
            "(see: llmtrace traces --help)",
        ),
        (
            ["stats", "--by", "model,usr"],
            "--by: unknown name 'usr'; choose from kind, name, service_name, operation, "
            "provider, model, prompt_name, prompt_version, retrieval_index, "
            "retrieval_index_version, tool_name, guardrail_policy, guardrail_action, "
            "judge_model, judge_version, dataset_version, eval_run_id, finish_reasons, status, "
            "user, session, conversation, or context.KEY for a key given to llmtrace.context()",
        ),
        (
            ["stats", "--since", "yesterday"],
            "--since 'yesterday': use a duration (30m, 1h, 7d, 2w) or a timestamp "
            "(2026-11-01 or 2026-11-01T09:30)",
        ),
        (["traces", "0123456789abcdef"], "no trace with id starting '0123456789abcdef'"),
        (["gate", "--config", "gates.yaml", "--candidate", "zz"], "no run with id starting 'zz'"),
    ],
)
def test_bad_arguments_are_one_line(project, args, message):
    done = llmtrace_cli(*args, cwd=project["root"], env=env_for(project["db"]))
    assert_one_line_error(done, message)


def test_ambiguous_trace_prefix_says_so(project):
    db = project["db"]
    conn = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in conn.execute("SELECT DISTINCT trace_id FROM spans").fetchall()]
    conn.close()
    first = max({i[0] for i in ids}, key=lambda c: sum(i.startswith(c) for i in ids))
    matching = sorted(i for i in ids if i.startswith(first))
    assert len(matching) > 1
    done = llmtrace_cli("traces", first, env=env_for(db))
    if len(matching) > 5:
        says = "more than 5 traces start with it"
    else:
        says = f"{len(matching)} traces start with it ({', '.join(i[:8] for i in matching)})"
    assert_one_line_error(done, f"trace id {first!r} is ambiguous: {says}; give more characters")


# --- tables that fit ----------------------------------------------------------------------
def _pty_run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run the CLI on a pseudo-terminal 80 columns wide; its output as the terminal got it."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "llmtrace", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0, b"".join(chunks)
    text = b"".join(chunks).decode()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r\n", "\n")


@pytest.mark.parametrize(
    "command",
    [["traces"], ["runs"], ["stats"], ["stats", "--by", "kind,name"], ["sql", "FROM spans"]],
)
def test_every_row_fits_one_line_at_80_columns(project, command):
    env = env_for(project["db"], TERM="xterm")
    out = _pty_run(command, env, project["root"])
    lines = out.rstrip("\n").split("\n")
    assert len(lines) >= 3 and all(len(line) <= 80 for line in lines), out
    assert set(lines[1]) <= {"─", " "}  # one header line, then the rule
    rows = lines[2:]
    if command == ["traces"]:
        assert len(rows) == 20  # one line per trace, nothing wrapped
        short = rows[0].split()[0]
        tree = llmtrace_cli("traces", short, env=env)  # the short id is accepted back
        assert tree.returncode == 0 and tree.stdout.startswith(f"trace {short}")
    if command == ["runs"]:
        assert len(rows) == 2
        assert {row.split()[0] for row in rows} == {i[:8] for i in project["ids"].values()}
    if command == ["stats"]:
        [row] = rows
        assert row.split()[:3] == ["gpt-4o-mini", "48", "0"] and row.split()[5:7] == ["576", "144"]


def test_piped_tables_fit_80_columns_and_json_stays_full(project):
    env = env_for(project["db"])
    piped = llmtrace_cli("traces", "--limit", "3", env=env)
    lines = piped.stdout.splitlines()
    assert len(lines) == 5 and all(len(line) <= 80 for line in lines)
    full = json.loads(llmtrace_cli("traces", "--limit", "3", "-f", "json", env=env).stdout)
    assert [len(t["trace_id"]) for t in full] == [32, 32, 32]
    assert [line.split()[0] for line in lines[2:]] == [t["trace_id"][:8] for t in full]


# --- datasets -----------------------------------------------------------------------------------
def test_dataset_with_a_byte_order_mark_loads_like_one_without(tmp_path):
    from llmtrace import evals

    rows = '{"input": "a", "expected": "b"}\n{"input": "c"}\n'
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    (tmp_path / "plain.jsonl").write_text(rows)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfinput,expected\r\nx,y\r\n")
    bom = evals.Dataset.from_jsonl(tmp_path / "bom.jsonl", name="d")
    assert bom.version == evals.Dataset.from_jsonl(tmp_path / "plain.jsonl", name="d").version
    assert [e.input for e in evals.Dataset.from_csv(tmp_path / "bom.csv").examples] == ["x"]


def test_dataset_that_is_not_utf8_names_the_line(tmp_path):
    from llmtrace import evals

    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"input": "a"}\n{"input": "caf\xe9"}\n')
    with pytest.raises(evals.DatasetError) as caught:
        evals.Dataset.from_jsonl(path)
    assert str(caught.value) == f"{path}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"


# --- the tracing API: one rule each, never an exception into the application ----------------
def test_judge_is_named_after_its_function_like_evals_judge(spans):
    import llmtrace
    from llmtrace import semconv as sc

    @llmtrace.judge(model="gpt-4o", version="helpful-v2")
    def helpful(answer):
        return 0.5

    @llmtrace.judge(model="gpt-4o", version="helpful-v2", name="rubric")
    def named(answer):
        return 0.5

    with llmtrace.workflow("w"):
        helpful("a")
        named("a")
        with llmtrace.judge(model="gpt-4o", version="v9") as span:
            span.record_evaluation(1.0)
    names = sorted(r["name"] for r in spans.records() if r["name"].startswith("judge"))
    assert names == ["judge helpful", "judge rubric", "judge v9"]
    [root] = [r for r in spans.records() if r["name"] == "invoke_workflow w"]
    assert [e[1][sc.GEN_AI_EVALUATION_NAME] for e in root["events"]] == [
        "helpful",
        "rubric",
        "v9",
    ]


def test_judge_score_out_of_range_and_guardrail_non_decision_are_span_errors(spans, caplog):
    import llmtrace

    @llmtrace.judge(model="gpt-4o", version="v1")
    def likert(answer):
        return 5.0

    @llmtrace.guardrail(policy="pii")
    def unsure(text):
        return "maybe"

    with llmtrace.workflow("w"):
        assert likert("a") == 5.0  # the return value is the application's, untouched
        assert unsure("a") == "maybe"
    status = {s.name: (s.status.status_code.name, s.status.description) for s in spans.spans()}
    assert status["judge likert"] == (
        "ERROR",
        "judge returned score 5.0; a score must lie in [0, 1]",
    )
    assert status["guardrail pii"] == (
        "ERROR",
        "guardrail returned 'maybe'; return a llmtrace.Decision or a bool (True = allow)",
    )
    [root] = [r for r in spans.records() if r["name"] == "invoke_workflow w"]
    assert root["events"] == []  # no evaluation recorded from an out-of-range score
    assert "judge likert: judge returned score 5.0" in caplog.text


def test_exception_that_escapes_a_span_is_recorded_as_escaped(spans):
    import llmtrace

    @llmtrace.tool("t")
    def boom():
        raise ValueError("x")

    with pytest.raises(ValueError):
        boom()
    [record] = spans.records()
    [(name, attributes)] = record["events"]
    assert name == "exception" and attributes["exception.escaped"] == "True"


def test_an_internal_failure_is_exit_70_with_its_traceback(monkeypatch, capsys):
    """A bug is not a user mistake (2) nor a failed gate (1): CI must not read it as either."""
    import importlib

    from llmtrace.cli import main

    sql_module = importlib.import_module("llmtrace.cli.sql")  # the package's `sql` is the command

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sql_module, "read_rows", broken)
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 70 and out == ""
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-2:] == [
        "RuntimeError: a bug",
        "llmtrace: internal error (a bug in llmtrace, not in your input): please report it "
        "with the traceback above",
    ]


def test_output_piped_into_head_is_not_an_error(project):
    done = subprocess.run(
        f"{sys.executable} -m llmtrace sql 'SELECT * FROM range(200000)' -f csv | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=env_for(project["db"]),
        timeout=120,
    )
    assert (done.stdout, done.stderr) == ("range\n", "")


def test_gate_output_fits_80_columns_with_notes_under_the_table(project):
    root, ids = project["root"], project["ids"]
    (root / "wide.yaml").write_text(
        "gates:\n"
        "  - {metric: quality.exact_match, min: 0.2, max_drop: 0.5}\n"
        "  - {metric: errors.rate, max: 0.0}\n"
        "  - {metric: latency.p95_ms, max: 100000}\n"
    )
    done = llmtrace_cli(
        "gate",
        "--config",
        "wide.yaml",
        "--candidate",
        ids["v2"],
        "--baseline",
        ids["v1"],
        cwd=root,
        env=env_for(project["db"]),
    )
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), done.stdout
    bounds = len([line for line in lines[3:] if line.split()[:1] in (["pass"], ["warn"], ["fail"])])
    assert bounds >= 4
    # title, header, rule, one line per bound, at most 3 lines per note that did not pass, decision
    assert len(lines) <= 3 + bounds + 3 * bounds + 1
