"""A research team restyles the report without Python: its own templates folder overrides
the built-in templates it names, can extend them as builtin/..., and is found through
`[report] templates` in config.toml."""

from __future__ import annotations

from pathlib import Path

from bot.app.config import load_config
from engine.report import build_report
from tests.report.conftest import FinishedStudy
from tests.report.helpers import parse

LOGO = "data:image/svg+xml;base64,PHN2Zy8+"


async def test_own_templates_restyle_the_html(finished: FinishedStudy,
                                             tmp_path: Path) -> None:
    (tmp_path / "report.html.j2").write_text(
        '{% extends "builtin/report.html.j2" %}\n'
        '{% block style %}{{ super() }}\nbody{font-family:"Journal Sans",sans-serif}'
        '{% endblock %}\n'
        '{% block header %}<header><img alt="Society logo" src="' + LOGO + '">'
        "<p>{{ title }}</p></header>{% endblock %}\n")
    (tmp_path / "report.md.j2").write_text("# {{ blocks[0].text|md }}\n\nOwn Markdown.\n")
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now(),
                                    templates=tmp_path)
        plain = await build_report(session, finished.study_id, finished.clock.now())
    assert '<img alt="Society logo"' in report.html
    assert 'font-family:"Journal Sans"' in report.html
    assert "border-collapse:collapse" in report.html  # the built-in CSS is kept
    assert parse(report.html).problems == []
    # Everything else comes from the built-in templates, unchanged.
    body = report.html[report.html.index("</header>") + len("</header>"):]
    assert body.strip() in plain.html
    assert report.markdown == "# Tiny pilot study\n\nOwn Markdown.\n"


def test_config_names_the_templates_folder(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[study]\nfile = "study.toml"\n[report]\ntemplates = "styles"\n')
    assert load_config(str(config)).templates_path == tmp_path / "styles"
    config.write_text('[study]\nfile = "study.toml"\n')
    assert load_config(str(config)).templates_path is None
