"""The drift report as one self-contained HTML page, on the renderer the gate report and the
model card use (:mod:`llmtrace.evals.html`): the verdict, every feature's PSI and JS with its
decision in colour and words, and each feature's bins, reference against current."""

from __future__ import annotations

from ..html import Cell, Section, decision_badge, escape, format_number, render_page, table
from ..html.bars import CountSeries, share_bars
from .drift_result import EPSILON, DriftResult, FeatureDrift

__all__ = ["drift_to_html"]

_SYMBOLS = {"pass": "✓", "warn": "!", "fail": "✗", "none": "–"}


def _banner(result: DriftResult) -> str:
    failed = [f.feature for f in result.features if f.decision == "fail"]
    why = (
        f"{len(failed)} of {len(result.features)} features drifted past a bound: "
        + ", ".join(failed)
        if failed
        else f"No drift rule broken over {len(result.features)} features."
    )
    if result.decision == "none":
        why = (
            "No drift rule applies (add a drift: section to the gates file): the values below "
            "are reported, not judged."
        )
    return (
        f'<div class="verdict d-{escape(result.decision)}" role="status">'
        f'<span class="word">{_SYMBOLS.get(result.decision, "")} {escape(result.decision)}</span>'
        f'<span class="why">{escape(why)}</span></div>'
    )


def _features_table(result: DriftResult) -> str:
    rows = [
        [
            Cell(f"<code>{escape(f.feature)}</code>"),
            Cell(decision_badge(f.decision)),
            f.kind,
            Cell(escape(format_number(f.psi)), "num"),
            Cell(escape(format_number(f.js)), "num"),
            len(f.reference_counts),
            Cell(escape(f.reason), "note"),
        ]
        for f in result.features
    ]
    return table(
        ["feature", "decision", "kind", "PSI", "JS (bits)", "bins", "note"],
        rows,
        caption="Bins are fixed from the reference: deciles for numbers, categories plus (other).",
        numeric=(3, 4, 5),
    )


def _figure(feature: FeatureDrift) -> str:
    plot = share_bars(
        feature.bins.labels(),
        [
            CountSeries("reference", feature.reference_counts, "base"),
            CountSeries("current", feature.current_counts, "cand"),
        ],
        feature.feature,
    )
    if not plot:
        return ""
    caption = (
        f"{feature.feature}: {_SYMBOLS.get(feature.decision, '')} {feature.decision}, "
        f"PSI {format_number(feature.psi)}, JS {format_number(feature.js)}"
    )
    return f"<figure>{plot}<figcaption>{escape(caption)}</figcaption></figure>"


def _legend() -> str:
    return (
        '<p class="legend"><span class="swatch bar base"></span>reference'
        '<span class="swatch bar"></span>current (in each pair the upper bar is the '
        "reference)</p>"
    )


def drift_to_html(result: DriftResult) -> str:
    """The drift report page (``llmtrace drift --html FILE``)."""
    where = f" where <code>{escape(result.where)}</code>" if result.where else ""
    header = _banner(result) + (
        f"<p>Reference <code>{escape(result.reference)}</code> against current "
        f"<code>{escape(result.current)}</code>{where}; drift id "
        f"<code>{escape(result.drift_id)}</code>.</p>"
    )
    figures = "".join(_figure(f) for f in result.features)
    method = (
        "<p>PSI is the population stability index, Σ (current − reference) · ln(current / "
        "reference) over the bins; JS is the Jensen-Shannon divergence in bits (0 to 1). An "
        f"empty bin counts as a share of {EPSILON:g} before the logarithms. Rules come from "
        "the <code>drift:</code> section of the gates file (<code>psi_max</code>, "
        "<code>js_max</code>).</p>"
    )
    sections = [
        Section("Features", _features_table(result), "features"),
        Section("Bins", _legend() + f'<div class="figures">{figures}</div>', "bins"),
        Section("Method", method, "method"),
    ]
    title = f"llmtrace drift: {result.reference} → {result.current}"
    return render_page(title, sections, header=header, generator="llmtrace drift")
