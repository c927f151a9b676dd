"""The user's pages: a README a newcomer can read in five minutes, links that lead somewhere, and figures
that are the benchmarks' own (rendered from benchmarks/results/, never typed in)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synthforge_hf.constants import REFERENCE_MODEL

from .benchmark_modules import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SUMMARY_PARTS = ("generated", "generated_mean_shape", "real_landmarks_box", "real_detector_box")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_a_page_not_a_notebook():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    text = page.read_text()
    targets = [t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "mailto:"))]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, page.name


def test_generated_figures_agree_with_the_benchmark_results():
    tables = load_benchmark("tables.py")
    for page in tables.PAGES:
        text = page.read_text()
        assert tables.BLOCK.search(text), f"{page.name} has no generated block"
        assert tables.render(text) == text, f"{page.name}: run python benchmarks/tables.py"


def test_rendered_tables_hold_the_numbers_of_the_json(tmp_path, monkeypatch):
    """The renderer itself, on a results file written here: its figures come out, as percentages."""
    tables = load_benchmark("tables.py")
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    errors = {"samples": 12, "nme": 0.0421, "nme_inner51": 0.0333}
    record = {
        "command": "python benchmarks/real_faces.py",
        "date": "2026-01-02",
        "machine": {"cores": 2, "cpu": "a CPU", "gpu": None},
        **dict.fromkeys(SUMMARY_PARTS, errors),
    }
    (tmp_path / "reference-model").mkdir()
    (tmp_path / "reference-model" / "summary.json").write_text(json.dumps(record))
    table = tables.reference_model()
    assert "| fresh generated validation faces | 12 | 4.2% | 3.3% |" in table
    assert table.endswith("Measured 2026-01-02 on 2 cores of a CPU by `python benchmarks/real_faces.py`.")


def test_the_model_card_quotes_the_reference_models_results():
    summary = json.loads((ROOT / "benchmarks" / "results" / "reference-model" / "summary.json").read_text())
    card = (REFERENCE_MODEL / "README.md").read_text()
    assert f"{round(summary['generated']['nme'], 5)}" in card
    assert f"{round(summary['real_landmarks_box']['nme_inner51'], 5)}" in card


def test_modules_stay_small():
    """A module does one job; the one allowed exception is named in CONTRIBUTING.md."""
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    large = [
        path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src").rglob("*.py")
        if len(path.read_text().splitlines()) > 500 and path.name not in contributing
    ]
    assert not large, large
