"""The model card: stored evidence plus card.yaml; a missing written section shows as missing."""

from __future__ import annotations

import pytest

from llmtrace import evals
from llmtrace.cli import main
from llmtrace.errors import UserError
from llmtrace.evals.html._style import STYLESHEET
from tests.html_checks import external_references, parse
from tests.registry_fixtures import make_reproducible_run

GATES = {"gates": [{"metric": "quality.exact_match", "min": 0.5}]}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    db, run_id, _ = make_reproducible_run(tmp_path_factory.mktemp("card"))
    registry = evals.Registry(db)
    v1 = registry.register(run_id, name="bot")
    registry.approve(v1, by="alice@example.com", role="owner", note="reviewed the card")
    registry.promote(v1, to="production", config=GATES, by="alice@example.com", reason="v1")
    return db, registry.get(v1.id)


def test_card_without_card_yaml_shows_written_sections_missing(release, tmp_path):
    db, v1 = release
    text = evals.card(v1, format="md", card_yaml=tmp_path / "none.yaml", db=db)
    assert text.startswith("# Model card: bot v1\n")
    for title, key in (
        ("Intended use", "intended_use"),
        ("Owners", "owners"),
        ("Ethical considerations", "ethical_considerations"),
    ):
        assert (
            f"## {title}\n\n> **Missing: nobody has written this section ({key} in "
            "card.yaml).**" in text
        )
    assert "| model | gpt-4o-mini-2024-07-18 |" in text
    assert "| quality.exact_match | 1 | [0.8" in text  # every metric with its interval
    for metric in ("quality.helpful", "errors.rate", "latency.p95_ms", "cost.usd_per_example"):
        assert f"| {metric} |" in text
    assert "| alice@example.com | owner | reviewed the card |" in text
    assert "against no baseline (absolute bounds only): **pass**" in text
    assert "A rollback of bot has nothing to restore." in text
    assert "```mermaid\ngraph LR" in text
    assert "The run is **reproducible**." in text
    assert "30 examples, content hash " in text


def test_card_with_card_yaml_uses_what_people_wrote(release, tmp_path):
    db, v1 = release
    written = tmp_path / "card.yaml"
    written.write_text(
        "intended_use: Answering billing questions from customers.\n"
        "limitations: English only.\n"
        "owners: [alice@example.com, support-team]\n",
        encoding="utf-8",
    )
    text = evals.card(v1.id[:8], card_yaml=written, db=db)
    assert "## Intended use\n\nAnswering billing questions from customers." in text
    assert "## Owners\n\n- alice@example.com\n- support-team" in text
    assert "## Limitations\n\nEnglish only." in text
    assert "Missing: nobody has written this section (out_of_scope_uses" in text
    html = evals.card(v1, format="html", card_yaml=written, db=db)
    assert html.lower().startswith("<!doctype html>") and "<h1>Model card: bot v1</h1>" in html
    assert "<li>support-team</li>" in html and 'class="missing"' in html


def test_card_html_is_the_shared_renderers_page(release, tmp_path):
    """The card's HTML has the gate report's shell and styles, real tables, decisions in colour
    and words, the lineage as SVG with its tables, and no external reference."""
    db, v1 = release
    page = evals.card(v1, format="html", card_yaml=tmp_path / "none.yaml", db=db)
    assert external_references(page) == []
    parser = parse(page)
    assert STYLESHEET in page and '<nav class="toc" aria-label="Contents">' in page
    assert parser.tags.count("h1") == 1 and parser.tags.count("main") == 1
    scopes = {v for t, k, v in parser.attributes if t == "th" and k == "scope"}
    assert scopes == {"col", "row"}
    gate_rows = [r for r in parser.rows if r.startswith("quality.exact_match >= 0.5")]
    assert gate_rows and all("✓ pass" in r for r in gate_rows)
    assert '<span class="badge d-pass">✓ pass</span>' in page  # colour class, symbol and word
    assert any(r.startswith("dataset ✓ pass") for r in parser.rows)  # reproducibility: ok
    assert page.count('<span class="badge d-warn">! missing</span> nobody has written') == 5
    assert "stage <strong>production</strong>" in page.split("<nav", 1)[0]  # the summary
    assert '<td class="num">[0.8' in page  # numbers and intervals align as numbers
    assert any(r.startswith("data.rows 30") for r in parser.rows)  # data checks, tabled
    assert '<th scope="row">model</th><td>gpt-4o-mini' in page  # text stays left-aligned
    assert 'aria-label="lineage of release: ' in page and "```mermaid" not in page
    assert any(r.startswith("from relation to") for r in parser.rows)  # the edges, tabled
    sections = [v for t, k, v in parser.attributes if t == "section" and k == "id"]
    assert sections[:2] == ["intended-use", "out-of-scope-uses"] and "lineage" in sections


def test_card_errors(release, tmp_path):
    db, v1 = release
    with pytest.raises(UserError, match="format='pdf'"):
        evals.card(v1, format="pdf", db=db)
    bad = tmp_path / "card.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(UserError, match="expected a mapping"):
        evals.card(v1, card_yaml=bad, db=db)


def test_cli_card_to_a_file(release, tmp_path, capsys):
    db, v1 = release
    out = tmp_path / "card.html"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "card",
                v1.id[:8],
                "--format",
                "html",
                "--out",
                str(out),
                "--db",
                str(db),
                "--card-yaml",
                str(tmp_path / "absent.yaml"),
            ]
        )
    assert done.value.code == 0 and capsys.readouterr().out == f"wrote {out}\n"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(SystemExit) as bad:
        main(["card", "nope", "--db", str(db)])
    assert bad.value.code == 2
