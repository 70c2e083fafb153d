"""The one stylesheet every llmtrace HTML page inlines: laptop screens first, and print."""

from __future__ import annotations

__all__ = ["STYLESHEET"]

# Decision colours are paired with a symbol and a word everywhere (never colour alone); the
# candidate/baseline series differ in dash pattern too, so a grey printout still tells them apart.
STYLESHEET = """
:root {
  --ink: #1d2430; --muted: #5b6473; --rule: #d5dae1; --stripe: #f5f7fa; --page: #ffffff;
  --pass: #137333; --pass-bg: #e6f4ea; --warn: #8a5300; --warn-bg: #fef3d6;
  --fail: #b3261e; --fail-bg: #fce8e6; --cand: #1f5fbf; --base: #c2570c;
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--rule); }
h3 { font-size: 1rem; margin: 20px 0 6px; }
p { margin: 6px 0; }
.muted, figcaption, caption { color: var(--muted); font-size: 0.9em; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.88em; }
nav.toc { font-size: 0.9em; margin: 8px 0 0; }
nav.toc a { margin-right: 14px; color: var(--cand); }
.verdict {
  display: flex; gap: 18px; align-items: center; margin: 16px 0; padding: 14px 18px;
  border-radius: 8px; border: 2px solid currentColor;
}
.verdict .word { font-size: 1.7rem; font-weight: 700; text-transform: uppercase;
  white-space: nowrap; }
.verdict .why { color: var(--ink); }
.d-pass { color: var(--pass); background: var(--pass-bg); }
.d-warn { color: var(--warn); background: var(--warn-bg); }
.d-fail { color: var(--fail); background: var(--fail-bg); }
.d-none { color: var(--muted); background: var(--stripe); }
.badge {
  display: inline-block; min-width: 4.6em; padding: 1px 8px; border-radius: 10px;
  font-weight: 600; font-size: 0.85em; white-space: nowrap; border: 1px solid currentColor;
}
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px;
  font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: 4px 0; caption-side: top; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--rule); text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); font-size: 0.85em; text-transform: uppercase;
  letter-spacing: 0.03em; color: var(--muted); }
tbody tr:nth-child(even) { background: var(--stripe); }
th[scope="row"] { font-weight: 600; min-width: 7em; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.note { font-size: 0.85em; color: var(--muted); }
ul.notes { padding-left: 0; list-style: none; }
ul.notes li { margin: 6px 0; break-inside: avoid; }
td.plot { padding: 2px 6px; width: 262px; min-width: 262px; }
td.plot svg { width: 250px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 18px; }
figure { margin: 0; break-inside: avoid; }
svg { max-width: 100%; height: auto; overflow: visible; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  fill: var(--ink); }
svg text.muted { fill: var(--muted); font-size: 10px; }
figure.wide { overflow-x: auto; margin: 8px 0 12px; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .grid { stroke: var(--rule); stroke-width: 1; }
svg .cand { stroke: var(--cand); fill: var(--cand); }
svg rect.base { fill-opacity: 0.55; }
svg .base { stroke: var(--base); fill: var(--base); }
svg .bound { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .i-pass { stroke: var(--pass); fill: var(--pass); }
svg .i-warn { stroke: var(--warn); fill: var(--warn); }
svg .i-fail { stroke: var(--fail); fill: var(--fail); }
.legend { font-size: 0.85em; color: var(--muted); }
.swatch { display: inline-block; width: 22px; height: 0; vertical-align: middle;
  margin: 0 4px 0 10px; border-top: 3px solid var(--cand); }
.swatch.base { border-top: 3px dashed var(--base); }
.swatch.bar { width: 14px; height: 10px; border: 0; background: var(--cand); }
.swatch.bar.base { background: var(--base); opacity: 0.55; border: 1px solid var(--base); }
p.missing { color: var(--warn); }
.example { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 12px; margin: 10px 0;
  break-inside: avoid; }
.example header { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: baseline; }
.example dl { display: grid; grid-template-columns: 9em 1fr; gap: 2px 12px; margin: 6px 0 0; }
.example dt { color: var(--muted); font-size: 0.88em; }
.example dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; }
@media (max-width: 720px) {
  main { padding: 12px; }
  .figures { grid-template-columns: 1fr; }
  .example dl { grid-template-columns: 1fr; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; }
  tr, .verdict, .example, figure { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  th, td { padding: 3px 5px; }
  td.plot { width: 176px; min-width: 176px; }
  td.plot svg { width: 170px; max-width: none; }
  .verdict .word { font-size: 1.3rem; }
  .figures { grid-template-columns: 1fr 1fr; }
  a { color: inherit; text-decoration: none; }
}
"""
