"""The promotion gate: a release enters staging or production only on its evidence.

A promotion runs the gate of the gates file with the name's current production release as the
baseline (paired by example; on the same dataset and judge versions, or refused unless the
mismatch is allowed, which is recorded), and checks the stage's policy (approvals and their
roles, warn allowed, a clean git tree). Every reason to refuse is collected, not only the
first; the refusal is recorded as an event with the gate it ran. ``force`` promotes despite
the reasons, needs a reason of its own, and records what it overrode. The decision is taken
again inside the committing transaction: if production changed while the gate ran, the gate
compared against the wrong baseline and the promotion is refused.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..errors import UserError
from .data_checks import evaluate_data_rules
from .gate_config import GateConfig
from .gates import GateError, GateResult, gate
from .promotion_checks import approval_reasons, comparability_problems, git_reasons
from .release_errors import PromotionRefused
from .release_policy import ReleaseConfig, StagePolicy, load_release_config
from .release_store import EventRecord, append_event, fetch, now, read, reading, transaction

__all__ = ["Request", "absolute_only", "promote"]

PROMOTABLE = {"candidate": ("staging", "production"), "staging": ("production",)}


@dataclass(frozen=True)
class Request:
    release_id: str
    name: str
    run_id: str
    to: str
    actor: str
    role: str | None
    reason: str | None
    strict: bool
    force: bool
    allow_mismatch: bool


@dataclass
class _State:
    """What the decision rests on, read before the gate and checked again at commit."""

    stage: str
    production_id: str | None
    production_run_id: str | None
    production_run_stored: bool


_STAGE_SQL = "SELECT stage FROM releases WHERE release_id = ?"
_PRODUCTION_SQL = """SELECT r.release_id, r.run_id, e.run_id IS NOT NULL AS stored
    FROM releases r LEFT JOIN eval_runs e USING (run_id)
    WHERE r.name = ? AND r.stage = 'production'"""


def _state_of(stage: list[dict[str, Any]], production: list[dict[str, Any]]) -> _State:
    if not production:
        return _State(stage[0]["stage"], None, None, False)
    row = production[0]
    return _State(stage[0]["stage"], row["release_id"], row["run_id"], bool(row["stored"]))


def _state(conn: duckdb.DuckDBPyConnection, request: Request) -> _State:
    """The state inside a transaction."""
    return _state_of(
        fetch(conn, _STAGE_SQL, [request.release_id]),
        fetch(conn, _PRODUCTION_SQL, [request.name]),
    )


def _read_state(db: Path, request: Request) -> _State:
    return _state_of(
        read(db, _STAGE_SQL, [request.release_id]), read(db, _PRODUCTION_SQL, [request.name])
    )


def _transition_reasons(request: Request, state: _State) -> list[str]:
    if request.to in PROMOTABLE.get(state.stage, ()):
        return []
    if state.stage == request.to:
        return [f"release {request.release_id} is already in {state.stage}"]
    if state.stage in ("superseded", "rolled_back"):
        return [
            f"release {request.release_id} is {state.stage}: it left production for good; "
            "restore it with rollback --to if it is a rollback candidate"
        ]
    return [f"release {request.release_id} is {state.stage}: it cannot go to {request.to}"]


def _plan_gate(
    db: Path, request: Request, config: ReleaseConfig, state: _State, reasons: list[str]
) -> tuple[GateConfig, str | None] | None:
    """The rules and baseline run of the gate to run: against production, or absolute bounds
    only when there is none. None (with the reason added) when it cannot run."""
    if config.gates is None:
        return None
    baseline = state.production_run_id if state.production_id != request.release_id else None
    if baseline is not None and not state.production_run_stored:
        reasons.append(
            f"the production release {state.production_id} rests on run {baseline}, which is "
            "not in this store (import its bundle), so there is nothing to compare against"
        )
        return None
    if baseline is not None:
        problems = comparability_problems(db, request.run_id, baseline)
        if problems and not request.allow_mismatch:
            reasons.append(
                f"not comparable with production {state.production_id}: "
                + "; ".join(problems)
                + " (allow_mismatch / --allow-mismatch compares anyway, and is recorded)"
            )
            return None
    rules = config.gates if baseline is not None else absolute_only(config.gates)
    return (rules, baseline) if rules is not None else None


def _run_gate(
    db: Path,
    request: Request,
    config: ReleaseConfig,
    plan: tuple[GateConfig, str | None],
    reasons: list[str],
) -> GateResult:
    """Run (and store) the gate, adding what it decided against the release to ``reasons``."""
    rules, baseline = plan
    try:
        result = gate(
            request.run_id,
            baseline,
            rules,
            strict=request.strict,
            allow_mismatch=request.allow_mismatch,
            db=db,
        )
    except GateError as exc:  # an unknown scorer or the like: the input is wrong, exit 2
        raise UserError(f"{config.origin}: {exc}") from None
    reasons.extend(_decision_reasons(result, config.policy.for_stage(request.to), request.to))
    return result


def absolute_only(config: GateConfig) -> GateConfig | None:
    """The gate without its baseline bounds (nothing is in production to compare against);
    None when no absolute bound is left."""
    relative = {"max_drop": None, "max_rise": None, "max_increase_pct": None}
    rules = [
        rule.model_copy(update=relative)
        for rule in config.gates
        if rule.min is not None or rule.max is not None
    ]
    return config.model_copy(update={"gates": rules}) if rules else None


def _decision_reasons(result: GateResult, policy: StagePolicy, stage: str) -> list[str]:
    if result.decision == "fail":
        failed = [g.rule for g in result.gates if g.decision == "fail"]
        return [f"the gate failed: {', '.join(failed)}"]
    if result.decision == "warn" and not policy.allow_warn:
        warned = [g.rule for g in result.gates if g.decision == "warn"]
        return [f"the gate warned ({', '.join(warned)}) and {stage} does not allow warn"]
    return []


def promote(
    db: Path, request: Request, config: str | os.PathLike[str] | dict[str, Any] | None
) -> None:
    """Decide and record one promotion; raises PromotionRefused with every reason."""
    if request.to not in ("staging", "production"):
        raise UserError(f"to={request.to!r}: a release is promoted to 'staging' or 'production'")
    if request.force and not (request.reason or "").strip():
        raise UserError("force=True needs reason= (why the refusal is overridden); it is recorded")
    parsed = load_release_config(config)
    if request.to == "production" and parsed.gates is None and not parsed.data_rules:
        raise UserError(
            f"promoting to production runs the gate: {parsed.origin} has no gates "
            "(give config=, --config, a gates file with a gates: list)"
        )
    policy = parsed.policy.for_stage(request.to)
    with reading(db):  # one connection for every read before the gate
        state = _read_state(db, request)
        transition = _transition_reasons(request, state)
        reasons = [
            *transition,
            *approval_reasons(db, request.release_id, request.to, policy),
            *git_reasons(db, request.run_id, policy),
        ]
        data_outcomes, data_reasons = evaluate_data_rules(
            list(parsed.data_rules), _envelope(db, request.run_id)
        )
        reasons += data_reasons
        # A release that cannot make this transition at all is not worth a gate.
        plan = None if transition else _plan_gate(db, request, parsed, state, reasons)
    result = _run_gate(db, request, parsed, plan, reasons) if plan else None
    _commit(db, request, parsed, state, _Decision(result, reasons, data_outcomes))


@dataclass
class _Decision:
    """What the checks and the gate said: the gate result, every reason to refuse, and each
    data rule's outcome."""

    result: GateResult | None
    reasons: list[str]
    data_checks: list[dict[str, Any]]


def _envelope(db: Path, run_id: str) -> dict[str, Any]:
    rows = read(db, "SELECT envelope FROM eval_runs WHERE run_id = ?", [run_id])
    envelope = json.loads(rows[0]["envelope"] or "{}") if rows else {}
    return envelope if isinstance(envelope, dict) else {}


def _gate_record(
    conn: duckdb.DuckDBPyConnection,
    request: Request,
    state: _State,
    result: GateResult,
    config: ReleaseConfig,
) -> str:
    gate_run_id = uuid.uuid4().hex[:16]
    conn.execute(
        """INSERT INTO release_gates (gate_run_id, release_id, run_id, baseline_run_id,
               baseline_release_id, decision, strict, config, result, decided_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            gate_run_id,
            request.release_id,
            request.run_id,
            result.baseline_run_id,
            state.production_id if result.baseline_run_id else None,
            result.decision,
            result.strict,
            json.dumps(config.raw, default=str),
            json.dumps(result.to_dict(), default=str),
            now(),
        ],
    )
    return gate_run_id


def _commit(
    db: Path,
    request: Request,
    config: ReleaseConfig,
    before: _State,
    decision: _Decision,
) -> None:
    reasons = decision.reasons
    try:
        with transaction(db) as conn:
            refused = _commit_in(conn, request, config, before, decision)
    except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
        reasons = [*reasons, f"another change to {request.name} committed first ({exc})"]
        with transaction(db) as conn:
            _record(conn, request, before.stage, None, reasons, "refused", {})
        raise PromotionRefused(f"promotion of {request.release_id} refused", reasons) from None
    if refused:
        raise PromotionRefused(
            f"promotion of {request.release_id} to {request.to} refused", reasons
        )


def _commit_in(
    conn: duckdb.DuckDBPyConnection,
    request: Request,
    config: ReleaseConfig,
    before: _State,
    decision: _Decision,
) -> bool:
    """Record the decision; True when it is a refusal."""
    result, reasons = decision.result, decision.reasons
    now_state = _state(conn, request)
    changes = [
        f"{what} {old} -> {new}"
        for what, old, new in (
            ("its stage", before.stage, now_state.stage),
            ("production", before.production_id, now_state.production_id),
        )
        if old != new
    ]
    if changes:
        reasons.append(
            f"{request.name} changed while the gate ran ({', '.join(changes)}): "
            "promote again to gate against what is there now"
        )
    racing = bool(changes)
    gate_run_id = _gate_record(conn, request, now_state, result, config) if result else None
    details = _evidence(request, config, now_state, decision)
    if reasons and (racing or not request.force):
        _record(conn, request, now_state.stage, gate_run_id, reasons, "refused", details)
        return True
    if reasons:
        details |= {"forced": True, "overridden": reasons}
    _record(conn, request, now_state.stage, gate_run_id, [], "done", details)
    if request.to == "production" and now_state.production_id not in (None, request.release_id):
        append_event(
            conn,
            EventRecord(
                str(now_state.production_id),
                request.name,
                "supersede",
                "done",
                "production",
                "superseded",
                request.actor,
                request.role,
                f"superseded by {request.release_id}",
                gate_run_id,
                {"superseded_by": request.release_id},
            ),
        )
    return False


def _evidence(
    request: Request, config: ReleaseConfig, state: _State, decision: _Decision
) -> dict[str, Any]:
    result = decision.result
    return {
        "data_checks": decision.data_checks,
        "run_id": request.run_id,
        "config": config.origin,
        "policy": config.policy.for_stage(request.to).model_dump(),
        "baseline_release_id": state.production_id if result and result.baseline_run_id else None,
        "gate_decision": result.decision if result else None,
        "gate_overrides": result.overrides if result else [],
        "strict": request.strict,
        "forced": False,
    }


def _record(
    conn: duckdb.DuckDBPyConnection,
    request: Request,
    from_stage: str,
    gate_run_id: str | None,
    reasons: list[str],
    outcome: str,
    details: dict[str, Any],
) -> None:
    reason = request.reason
    if reasons:
        details = {**details, "reasons": reasons}
    append_event(
        conn,
        EventRecord(
            request.release_id,
            request.name,
            "promote",
            outcome,
            from_stage,
            request.to,
            request.actor,
            request.role,
            reason,
            gate_run_id,
            details,
        ),
    )
