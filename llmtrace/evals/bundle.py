"""Bundles: one hash-verified file that carries a run or a release to another store.

A bundle is a zip of three members: ``data.duckdb`` (the rows: the run, its dataset record,
results, spans, gate results, and the release records, events, approvals and gates),
``manifest.json`` (what it holds, row counts per table, the schema version and the sha256 of
``data.duckdb``) and ``manifest.sha256``. Import checks every hash and row count before it
writes anything, then inserts every table in one transaction, skipping rows the store already
has: a corrupted or edited bundle is refused whole, and importing twice changes nothing.

The hashes detect corruption and edits that do not also rewrite the manifest; they are not a
signature. Keep bundles where only trusted jobs write (a CI artifact store, the repository).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from .._store_path import default_db_path
from ..errors import UserError
from ..store.connection import connect_write
from ..store.schema import SCHEMA_VERSION
from .release_store import read

__all__ = ["BundleError", "BundleSummary", "export_bundle", "import_bundle"]

FORMAT = "llmtrace-bundle"
FORMAT_VERSION = 1

# (table, rows to export given the runs R and releases L, key that says a row is present)
_TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "datasets",
        "(name, version) IN (SELECT dataset_name, dataset_version FROM main.eval_runs "
        "WHERE run_id IN (SELECT id FROM _runs))",
        "t.name = b.name AND t.version = b.version",
    ),
    ("eval_runs", "run_id IN (SELECT id FROM _runs)", "t.run_id = b.run_id"),
    ("eval_results", "run_id IN (SELECT id FROM _runs)", "t.run_id = b.run_id"),
    (
        "spans",
        "trace_id IN (SELECT DISTINCT trace_id FROM main.eval_results WHERE run_id IN "
        "(SELECT id FROM _runs))",
        "t.trace_id = b.trace_id AND t.span_id = b.span_id",
    ),
    (
        "gate_results",
        "run_id IN (SELECT id FROM _runs)",
        "t.run_id = b.run_id AND t.rule = b.rule AND t.decided_at = b.decided_at",
    ),
    ("release_records", "release_id IN (SELECT id FROM _releases)", "t.release_id = b.release_id"),
    ("release_events", "release_id IN (SELECT id FROM _releases)", "t.event_id = b.event_id"),
    (
        "approvals",
        "release_id IN (SELECT id FROM _releases)",
        "t.release_id = b.release_id AND t.approver = b.approver AND t.approved_at = b.approved_at",
    ),
    ("release_gates", "release_id IN (SELECT id FROM _releases)", "t.gate_run_id = b.gate_run_id"),
)


class BundleError(UserError):
    """A bundle that cannot be imported: unreadable, corrupted, tampered with, or at odds with
    the store's own history. Nothing was written."""


@dataclass(frozen=True)
class BundleSummary:
    """What a bundle holds (``rows`` per table) and, after an import, what was new."""

    path: Path
    subject_kind: str
    subject_id: str
    rows: dict[str, int]
    imported: dict[str, int]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _subject(db: Path, subject: str) -> tuple[str, str, list[str], list[str]]:
    """(kind, id, run ids, release ids) for a run or release id prefix."""
    cleaned = subject.strip().lower()
    releases = read(
        db,
        "SELECT release_id, run_id FROM release_records WHERE starts_with(release_id, ?) LIMIT 2",
        [cleaned],
    )
    runs = read(db, "SELECT run_id FROM eval_runs WHERE starts_with(run_id, ?) LIMIT 2", [cleaned])
    if not cleaned or len(releases) + len(runs) > 1:
        raise UserError(f"id {subject!r} is empty or ambiguous; give more characters")
    if releases:
        row = releases[0]
        return "release", row["release_id"], [row["run_id"]], [row["release_id"]]
    if runs:
        run_id = runs[0]["run_id"]
        made = read(db, "SELECT release_id FROM release_records WHERE run_id = ?", [run_id])
        return "run", run_id, [run_id], [r["release_id"] for r in made]
    raise UserError(f"no run or release with id starting {subject!r} in {db}")


def _copy_out(db: Path, data: Path, runs: list[str], releases: list[str]) -> dict[str, int]:
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.execute("CREATE TEMP TABLE _runs AS SELECT unnest(?::VARCHAR[]) AS id", [runs])
        conn.execute("CREATE TEMP TABLE _releases AS SELECT unnest(?::VARCHAR[]) AS id", [releases])
        conn.execute("ATTACH ? AS bundle", [str(data)])
        rows = {}
        for table, where, _ in _TABLES:
            conn.execute(f"CREATE TABLE bundle.{table} AS SELECT * FROM main.{table} WHERE {where}")
            rows[table] = conn.execute(f"SELECT count(*) FROM bundle.{table}").fetchall()[0][0]
        conn.execute("DETACH bundle")
        return rows
    finally:
        conn.close()


def export_bundle(
    subject: str, out: str | os.PathLike[str], *, db: str | os.PathLike[str] | None = None
) -> BundleSummary:
    """Write the run or release ``subject`` (a unique id prefix) to the bundle file ``out``."""
    path, target = default_db_path(db), Path(out)
    kind, subject_id, runs, releases = _subject(path, subject)  # reading merges waiting spans
    with tempfile.TemporaryDirectory(prefix="llmtrace-bundle-") as tmp:
        data = Path(tmp) / "data.duckdb"
        rows = _copy_out(path, data, runs, releases)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "subject": {"kind": kind, "id": subject_id},
            "runs": runs,
            "releases": releases,
            "rows": rows,
            "data_sha256": _sha256(data),
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
        text = json.dumps(manifest, indent=2, sort_keys=True)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
                bundle.writestr("manifest.json", text)
                bundle.writestr("manifest.sha256", hashlib.sha256(text.encode()).hexdigest())
                bundle.write(data, "data.duckdb")
        except OSError as exc:
            raise UserError(f"{target}: not written: {exc.strerror or exc}") from None
    return BundleSummary(target, kind, subject_id, rows, {})


def _open(source: Path, tmp: Path) -> tuple[dict[str, Any], Path]:
    """The verified manifest and the extracted data file; BundleError on any mismatch."""
    try:
        with zipfile.ZipFile(source) as bundle:
            if sorted(bundle.namelist()) != ["data.duckdb", "manifest.json", "manifest.sha256"]:
                raise BundleError(
                    f"{source}: not an llmtrace bundle (members {sorted(bundle.namelist())})"
                )
            text = bundle.read("manifest.json")
            recorded = bundle.read("manifest.sha256").decode().strip()
            data = Path(bundle.extract("data.duckdb", tmp))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise BundleError(f"{source}: not a readable bundle: {exc}") from None
    if hashlib.sha256(text).hexdigest() != recorded:
        raise BundleError(f"{source}: the manifest does not match its sha256: refused whole")
    manifest = json.loads(text)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{source}: not an llmtrace bundle of format version {FORMAT_VERSION}")
    if _sha256(data) != manifest["data_sha256"]:
        raise BundleError(
            f"{source}: data.duckdb does not match the manifest's sha256 "
            "(corrupted or edited): refused whole"
        )
    if manifest["schema_version"] > SCHEMA_VERSION:
        raise BundleError(
            f"{source}: written at schema version {manifest['schema_version']}, "
            f"newer than this llmtrace ({SCHEMA_VERSION}): upgrade llmtrace"
        )
    return manifest, data


def _conflicts(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Histories that cannot be merged: another production release of the same name, or a
    different event already at one of the bundle's (name, seq) places."""
    seq = conn.execute(
        "SELECT b.name, b.seq FROM bundle.release_events b JOIN main.release_events t "
        "ON t.name = b.name AND t.seq = b.seq AND t.event_id <> b.event_id LIMIT 3"
    ).fetchall()
    problems = [f"{name}: this store already has a different event number {n}" for name, n in seq]
    prod = conn.execute(
        "WITH staged AS (SELECT release_id, arg_max(to_stage, seq) AS stage FROM "
        "bundle.release_events WHERE outcome = 'done' AND to_stage IS NOT NULL GROUP BY ALL) "
        "SELECT r.name, p.release_id FROM staged s JOIN bundle.release_records r USING "
        "(release_id) JOIN main.releases p ON p.name = r.name AND p.stage = 'production' "
        "AND p.release_id <> s.release_id WHERE s.stage = 'production'"
    ).fetchall()
    problems += [f"{name}: this store has {rid} in production already" for name, rid in prod]
    return problems


def _copy_in(conn: duckdb.DuckDBPyConnection, manifest: dict[str, Any]) -> dict[str, int]:
    imported = {}
    for table, _, key in _TABLES:
        count = conn.execute(f"SELECT count(*) FROM bundle.{table}").fetchall()[0][0]
        if count != manifest["rows"][table]:
            raise BundleError(
                f"bundle table {table} has {count} rows, the manifest says "
                f"{manifest['rows'][table]}: refused whole"
            )
        new = (
            f"SELECT * FROM bundle.{table} b "
            f"WHERE NOT EXISTS (SELECT 1 FROM main.{table} t WHERE {key})"
        )
        imported[table] = conn.execute(f"SELECT count(*) FROM ({new})").fetchall()[0][0]
        conn.execute(f"INSERT INTO main.{table} BY NAME {new}")
    return imported


def import_bundle(
    source: str | os.PathLike[str], *, db: str | os.PathLike[str] | None = None
) -> BundleSummary:
    """Load a bundle into the store, all or nothing (see the module docstring)."""
    path, bundle_path = default_db_path(db), Path(source)
    if not bundle_path.is_file():
        raise BundleError(f"{bundle_path}: no such bundle file")
    with tempfile.TemporaryDirectory(prefix="llmtrace-bundle-") as tmp:
        manifest, data = _open(bundle_path, Path(tmp))
        conn = connect_write(path, timeout_s=30.0)
        try:
            try:
                conn.execute("ATTACH ? AS bundle (READ_ONLY)", [str(data)])
            except duckdb.Error as exc:
                raise BundleError(f"{bundle_path}: its data is unreadable: {exc}") from None
            conn.execute("BEGIN TRANSACTION")
            try:
                problems = _conflicts(conn)
                if problems:
                    raise BundleError(f"{bundle_path}: " + "; ".join(problems))
                imported = _copy_in(conn, manifest)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            conn.execute("DETACH bundle")
        finally:
            conn.close()
    subject = manifest["subject"]
    return BundleSummary(bundle_path, subject["kind"], subject["id"], manifest["rows"], imported)
