"""Drift reports: JSON (everything, bins included), Markdown and JUnit XML, like gate reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from .drift_result import DriftResult

__all__ = ["drift_to_json", "drift_to_junit", "drift_to_markdown"]

_ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "none": "ℹ️ no rule"}


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def drift_to_json(result: DriftResult) -> str:
    return json.dumps(result.to_dict(), indent=2)


def drift_to_markdown(result: DriftResult) -> str:
    where = f", where `{result.where}`" if result.where else ""
    lines = [
        f"## llmtrace drift: {_ICONS[result.decision]}",
        "",
        f"Reference `{result.reference}`, current `{result.current}`{where}. Bins are fixed "
        "from the reference (deciles for numbers, categories plus `(other)`); JS is in bits.",
        "",
        "| decision | feature | PSI | JS | bins | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for f in result.features:
        lines.append(
            f"| {_ICONS[f.decision]} | `{f.feature}` | {_num(f.psi)} | {_num(f.js)} | "
            f"{len(f.reference_counts)} | {f.reason.replace('|', chr(92) + '|')} |"
        )
    return "\n".join(lines) + "\n"


def drift_to_junit(result: DriftResult) -> str:
    """One testcase per feature: a broken drift bound is a <failure>."""
    failures = sum(f.decision == "fail" for f in result.features)
    skipped = sum(f.decision == "warn" for f in result.features)
    suite = ET.Element(
        "testsuite",
        name="llmtrace drift",
        tests=str(len(result.features)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
    )
    for f in result.features:
        case = ET.SubElement(suite, "testcase", classname="drift", name=f.feature)
        detail = f"PSI {_num(f.psi)}, JS {_num(f.js)}. {f.reason}".strip()
        if f.decision == "fail":
            ET.SubElement(case, "failure", message=f.reason).text = detail
        elif f.decision == "warn":
            ET.SubElement(case, "skipped", message=f.reason).text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
