"""The Space as `synthforge push --space` sends it: installable from PyPI alone, running the package
source it carries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from synthforge_hf.hub.space import space_requirements, stage_space

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces_app"


def _requirement_names(text: str) -> set[str]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {Requirement(line).name for line in lines}


def test_requirements_are_the_projects_own_and_name_no_unpublished_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = {
        Requirement(r).name for r in project["dependencies"] + project["optional-dependencies"]["space"]
    }
    committed = (SPACE / "requirements.txt").read_text()
    assert committed == space_requirements()  # regenerate: python -c "...; print(space_requirements())"
    assert _requirement_names(committed) == expected  # the installed metadata is not stale
    assert "synthforge-hf" not in _requirement_names(committed)


@pytest.mark.slow
def test_requirements_resolve_with_pip(tmp_path):
    """pip itself reads the file (markers, specifiers) and finds every requirement met in this
    environment, with no index: the file is one pip can install from."""
    staged = stage_space(SPACE, tmp_path / "space")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "-r",
            str(staged / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Would install" not in result.stdout  # nothing missing


@pytest.mark.slow
def test_the_staged_space_runs_its_own_copy_of_the_package(tmp_path):
    """`python app.py` in the staged folder, as a Space starts it (launch() stood in for by a print):
    synthforge_hf comes from the folder, with the reference model inside it."""
    staged = stage_space(SPACE, tmp_path / "space")
    assert (staged / "synthforge_hf" / "hub" / "templates" / "model_card.md").is_file()
    assert not list(staged.rglob("__pycache__"))
    reference = staged / "synthforge_hf" / "reference_model"
    weights = {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert {p.name for p in reference.iterdir()} >= weights
    assert (staged / "packages.txt").is_file()
    probe = (
        "import gradio, runpy\n"
        "def launch(self, *a, **k):\n"
        "    import synthforge_hf\n"
        "    print('PACKAGE', synthforge_hf.__file__)\n"
        "gradio.Blocks.launch = launch\n"
        "runpy.run_path('app.py', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=staged, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    package = Path(result.stdout.split("PACKAGE ")[1].strip())
    assert package.resolve() == (staged / "synthforge_hf" / "__init__.py").resolve()


def test_staging_refuses_a_used_folder(tmp_path):
    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        stage_space(SPACE, tmp_path / "space")
