"""``llmtrace register|approve|promote|rollback|releases``: outputs and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_in_process as cli
from tests.registry_fixtures import gates_file, make_runs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry-cli")
    db = tmp / "cli.duckdb"
    return db, make_runs(db), tmp


def _promote(capsys, db, config, version, by, *extra):
    return cli(
        capsys, "promote", version, "--to", "production", "--config", str(config),
        "--by", by, *extra, "--db", str(db),
    )  # fmt: skip


def _production_gates(tmp):
    return gates_file(tmp, {"production": {"approvals": 1, "roles": ["owner"]}})


def test_register_then_promote_needs_an_approval(store, capsys):
    db, runs, tmp = store
    config = _production_gates(tmp)
    code, out, _ = cli(capsys, "register", runs["base"][:8], "--name", "bot", "--db", str(db))
    assert code == 0 and out.startswith("bot v1 ") and "[candidate]" in out
    v1 = out.strip().splitlines()[-1]
    code, out, err = _promote(capsys, db, config, v1[:8], "alice")
    assert code == 1
    assert "refused: production needs 1 approval(s) with role owner; has 0" in out
    assert err.startswith(f"llmtrace: promotion of {v1} to production refused: ")
    code, out, _ = cli(
        capsys, "approve", v1[:8], "--by", "alice", "--role", "owner", "--db", str(db)
    )
    assert (code, out) == (0, f"approved bot v1 ({v1}) by alice (owner)\n")
    code, out, _ = _promote(capsys, db, config, v1[:8], "alice")
    assert code == 0, out
    assert "(absolute bounds only)" in out and out.endswith(
        f"promoted bot v1 ({v1}) to production\n"
    )
    code, out, _ = cli(capsys, "rollback", "bot", "--by", "bob", "--reason", "p95", "--db", str(db))
    assert code == 1  # nothing before v1


def test_a_second_release_is_listed_and_rolled_back(store, capsys):
    db, runs, tmp = store  # shared by the module's tests: this one's releases are "bot2"
    config = _production_gates(tmp)
    base, same = runs["base"], runs["same"]
    versions = []
    for run, who in ((base, "alice"), (same, "carol")):
        version = cli(capsys, "register", run, "--name", "bot2", "--db", str(db))[1].split()[-1]
        cli(capsys, "approve", version, "--by", who, "--role", "owner", "--db", str(db))
        code, out, _ = _promote(capsys, db, config, version[:9], who, "--reason", "new prompt")
        assert code == 0, out
        versions.append(version)
    v1, v2 = versions
    assert f"vs production run {base}" in out

    code, out, _ = cli(capsys, "releases", "--db", str(db), "--format", "json")
    assert code == 0
    listed = [r for r in json.loads(out) if r["name"] == "bot2"]
    assert listed == [
        {
            "name": "bot2",
            "production": f"v2 {v2}",
            "rollback_restores": f"v1 {v1}",
            "releases": 2,
            "waiting": 0,
        }
    ]
    code, out, _ = cli(capsys, "releases", "bot2", "--db", str(db))
    assert code == 0
    assert f"in production: bot2 v2 ({v2})" in out and f"a rollback restores: v1 {v1}" in out

    code, out, _ = cli(
        capsys, "rollback", "bot2", "--by", "bob", "--reason", "p95 regression", "--db", str(db)
    )
    assert (code, out) == (0, f"rolled back bot2 v2 ({v2}); restored bot2 v1 ({v1})\n")


def test_bad_input_exits_2_with_one_line(store, capsys):
    db, runs, tmp = store
    for args, message in (
        (["register", "nope", "--name", "x"], "no run with id starting 'nope'"),
        (["register", runs["base"], "--name", "-x"], "release name '-x'"),
        (["approve", "ffffffff", "--by", "a"], "no release with id starting 'ffffffff'"),
        (["releases", "nobody"], "no releases named 'nobody'"),
    ):
        code, out, err = cli(capsys, *args, "--db", str(db))
        assert code == 2, (args, out, err)
        assert message in err and len(err.strip().splitlines()) == 1, err
    release = cli(capsys, "register", runs["base"], "--name", "bad-input", "--db", str(db))[
        1
    ].split()[-1]
    bad = gates_file(tmp, {"production": {"approvals": "many"}})
    for args, message in (
        (["--to", "canary", "--config", str(bad)], "to='canary'"),
        (["--to", "production", "--config", str(bad)], "release.production.approvals"),
        (["--to", "production", "--config", str(tmp / "missing.yaml")], "cannot read"),
        (["--to", "production", "--force", "--config", str(gates_file(tmp))], "needs reason="),
    ):
        code, _, err = cli(capsys, "promote", release, "--by", "a", *args, "--db", str(db))
        assert code == 2 and message in err, (args, err)


def test_a_refused_promotion_exits_1_from_a_real_process(store):
    db, runs, tmp = store
    env_db = ["--db", str(db)]

    def llmtrace(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmtrace", *args, *env_db],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = llmtrace("register", runs["base"], "--name", "proc").stdout.split()[-1]
    assert (
        llmtrace(
            "promote", first, "--to", "production", "--config", str(gates_file(tmp)), "--by", "a"
        ).returncode
        == 0
    )
    worse = llmtrace("register", runs["worse"], "--name", "proc").stdout.split()[-1]
    done = llmtrace(
        "promote", worse, "--to", "production", "--config", str(gates_file(tmp)), "--by", "a"
    )
    assert done.returncode == 1, done.stderr
    assert "refused: the gate failed: quality.exact_match" in done.stdout
    assert "decision: fail" in done.stdout


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["register"], "Usage: llmtrace register [OPTIONS] RUN"),
        (["approve"], "Usage: llmtrace approve [OPTIONS] RELEASE"),
        (["promote"], "Usage: llmtrace promote [OPTIONS] RELEASE"),
        (["rollback"], "Usage: llmtrace rollback [OPTIONS] NAME"),
        (["releases"], "Usage: llmtrace releases [OPTIONS] [NAME]"),
        (["card"], "Usage: llmtrace card [OPTIONS] RELEASE"),
        (["lineage"], "Usage: llmtrace lineage [OPTIONS] RELEASE|RUN"),
        (["reproduce"], "Usage: llmtrace reproduce [OPTIONS] RUN"),
        (["bundle", "export"], "Usage: llmtrace bundle export [OPTIONS] RUN|RELEASE"),
        (["bundle", "import"], "Usage: llmtrace bundle import [OPTIONS] FILE"),
    ],
)
def test_help_names_arguments(command, usage, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = cli(capsys, *command, "--help")
    assert code == 0 and usage in out and "<bool>" not in out
