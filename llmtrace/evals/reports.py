"""Gate reports: Markdown (for pull requests and $GITHUB_STEP_SUMMARY), JSON and JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from .gates import GateResult

__all__ = ["error_rates", "to_json", "to_junit", "to_markdown"]

_ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail"}


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def to_markdown(result: GateResult) -> str:
    baseline = f" against baseline `{result.baseline_run_id}`" if result.baseline_run_id else ""
    lines = [
        f"## llmtrace gate: {_ICONS[result.decision]}",
        "",
        f"Candidate run `{result.candidate_run_id}`{baseline}, "
        f"{result.confidence:.0%} intervals{', strict' if result.strict else ''}.",
        "",
        "| decision | rule | estimate | interval | n | note |",
        "|---|---|---:|---|---:|---|",
    ]
    for g in result.gates:
        reason = g.reason.replace("|", "\\|")
        lines.append(
            f"| {_ICONS[g.decision]} | `{g.rule}` | {_num(g.estimate)} | "
            f"[{_num(g.ci_low)}, {_num(g.ci_high)}] | {g.n} | {reason} |"
        )
    for override in result.overrides:
        lines.append(f"\n> {override}")
    lines += _judge_lines(result)
    lines += ["", error_rates(result)]
    return "\n".join(lines) + "\n"


def _judge_lines(result: GateResult) -> list[str]:
    """Each judge version that scored the candidate with its stored agreement with human
    labels; a version without one is flagged."""
    lines = []
    for j in result.judges:
        name = f"`{j['judge']}` version `{j['version']}`"
        if j["calibrated"]:
            lines.append(
                f"- judge {name}: {j['measure']} {_num(j['agreement'])} "
                f"[{_num(j['ci_low'])}, {_num(j['ci_high'])}], n={j['n']} human labels "
                f"({j['labels']})"
            )
        else:
            lines.append(
                f"- ⚠️ judge {name} has no stored calibration: its scores are not shown to "
                "agree with human labels (`llmtrace calibrate`)"
            )
    return ["", "Judges:", "", *lines] if lines else []


def error_rates(result: GateResult) -> str:
    """What pass, warn and fail promise, said in every report."""
    if not 0.5 < result.confidence < 1.0:  # a stored gate read back: the level is unknown
        return "Warn means *not shown safe*: the data cannot tell, so nothing was shown."
    side = (1.0 - result.confidence) / 2.0
    family = (
        f"Holm's correction keeps the chance that any bound fails a candidate meeting them all "
        f"at {side:.1%}"
        if result.family_wise == "holm"
        else f"with {len(result.gates)} bounds, the chance that at least one fails a candidate "
        "meeting them all is higher (set `family_wise: holm` to control it)"
    )
    return (
        f"Warn means *not shown safe*: the data cannot tell, so nothing was shown. Each bound "
        f"errs at most {side:.1%} one-sided ({result.confidence:.0%} intervals): a candidate "
        f"exactly on a bound passes it, and fails it, at most that often; {family}."
    )


def to_json(result: GateResult) -> str:
    def clean(value: object) -> object:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    data = result.to_dict()
    data["gates"] = [{k: clean(v) for k, v in g.items()} for g in data["gates"]]
    return json.dumps(data, indent=2)


def to_junit(result: GateResult) -> str:
    """One testsuite, one testcase per rule: fail is a <failure>, warn a <skipped> with why."""
    failures = sum(g.decision == "fail" for g in result.gates)
    skipped = sum(g.decision == "warn" for g in result.gates)
    suite = ET.Element(
        "testsuite",
        name="llmtrace gate",
        tests=str(len(result.gates)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
    )
    for g in result.gates:
        case = ET.SubElement(suite, "testcase", classname=g.metric, name=g.rule)
        detail = (
            f"estimate {_num(g.estimate)}, interval [{_num(g.ci_low)}, {_num(g.ci_high)}],"
            f" n={g.n}. {g.reason}"
        ).strip()
        if g.decision == "fail":
            ET.SubElement(case, "failure", message=g.rule).text = detail
        elif g.decision == "warn":
            ET.SubElement(case, "skipped", message="inconclusive: not shown safe").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
