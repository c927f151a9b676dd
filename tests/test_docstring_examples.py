"""The public API's docstrings: their `>>>` examples run (the standard `doctest` module, in a temporary
working directory, so the folders they save land there), and every documented function and class keeps
its Args (each argument named, alone or in a list of names sharing an entry), Returns and Example
sections."""

from __future__ import annotations

import copy
import doctest
import importlib
import importlib.util
import inspect
import re

import pytest

from synthforge_hf.cli import COMMANDS

# The modules whose docstring examples run.
MODULES = (
    "synthforge_hf.pipelines.synthforge.pipeline_synthforge",
    "synthforge_hf.pipelines.synthforge.pipeline_output",
    "synthforge_hf.pipelines.synthforge.sampling",
    "synthforge_hf.models.synthforge.configuration_synthforge",
    "synthforge_hf.models.synthforge.modeling_synthforge",
    "synthforge_hf.models.synthforge.image_processing_synthforge",
    "synthforge_hf.models.synthforge.post_processing_synthforge",
    "synthforge_hf.models.synthforge_lf.configuration_synthforge_lf",
    "synthforge_hf.models.synthforge_lf.modeling_synthforge_lf",
    "synthforge_hf.analysis",
    "synthforge_hf.data.generate",
    "synthforge_hf.data.sampling.control",
    "synthforge_hf.data.loading",
    "synthforge_hf.data.torch_data",
    "synthforge_hf.data.official",
    "synthforge_hf.hub.dataset_card",
    "synthforge_hf.io.images",
)
# The documented public API, as "module:qualified name"; the command functions are added from COMMANDS.
DOCUMENTED = (
    "synthforge_hf.pipelines.synthforge.pipeline_synthforge:SynthForgePipeline",
    "synthforge_hf.pipelines.synthforge.pipeline_synthforge:SynthForgePipeline.__call__",
    "synthforge_hf.pipelines.synthforge.pipeline_synthforge:SynthForgePipeline.from_default_head",
    "synthforge_hf.pipelines.synthforge.pipeline_synthforge:SynthForgePipeline.from_assets",
    "synthforge_hf.pipelines.synthforge.pipeline_output:SynthForgePipelineOutput",
    "synthforge_hf.pipelines.synthforge.sampling:SamplingRanges",
    "synthforge_hf.models.synthforge.configuration_synthforge:SynthForgeConfig",
    "synthforge_hf.models.synthforge.configuration_synthforge:SynthForgeConfig.tiny",
    "synthforge_hf.models.synthforge.configuration_synthforge:SynthForgeConfig.small",
    "synthforge_hf.models.synthforge.configuration_synthforge:SynthForgeConfig.paper",
    "synthforge_hf.models.synthforge.modeling_synthforge:SynthForgeForFaceAnalysis.forward",
    "synthforge_hf.models.synthforge.modeling_synthforge:SynthForgeFaceAnalysisOutput",
    "synthforge_hf.models.synthforge.modeling_synthforge:SynthForgeModel",
    "synthforge_hf.models.synthforge.image_processing_synthforge:SynthForgeImageProcessor",
    "synthforge_hf.models.synthforge.image_processing_synthforge:SynthForgeImageProcessor.preprocess",
    "synthforge_hf.models.synthforge.image_processing_synthforge:SynthForgeImageProcessor.detect_faces",
    "synthforge_hf.models.synthforge.post_processing_synthforge:"
    "SynthForgePostProcessingMixin.post_process_landmarks",
    "synthforge_hf.models.synthforge.post_processing_synthforge:"
    "SynthForgePostProcessingMixin.post_process_semantic_segmentation",
    "synthforge_hf.models.synthforge.post_processing_synthforge:"
    "SynthForgePostProcessingMixin.post_process_depth_estimation",
    "synthforge_hf.models.synthforge.post_processing_synthforge:"
    "SynthForgePostProcessingMixin.post_process_face_windows",
    "synthforge_hf.models.synthforge_lf.configuration_synthforge_lf:SynthForgeLabelFinetuneConfig",
    "synthforge_hf.models.synthforge_lf.modeling_synthforge_lf:SynthForgeLabelFinetuneModel",
    "synthforge_hf.models.synthforge_lf.modeling_synthforge_lf:SynthForgeLabelFinetuneModel.forward",
    "synthforge_hf.analysis:PhotoAnalyser",
    "synthforge_hf.analysis:PhotoAnalyser.from_pretrained",
    "synthforge_hf.analysis:PhotoAnalyser.__call__",
    "synthforge_hf.analysis:PhotoAnalyser.analyse_photos",
    "synthforge_hf.analysis:PhotoResult",
    "synthforge_hf.analysis:FaceResult",
    "synthforge_hf.data.generate:generate_dataset",
    "synthforge_hf.data.sampling.control:ControlSpace",
    "synthforge_hf.data.loading:load_split",
    "synthforge_hf.data.torch_data:SyntheticFaceStream",
    "synthforge_hf.data.torch_data:collate_rows",
    "synthforge_hf.data.official:import_official_release",
    "synthforge_hf.hub.dataset_card:write_dataset_card",
    "synthforge_hf.io.images:open_photo",
)
COMMAND_FUNCTIONS = ("synthforge_hf.cli:main", *(f"{module}:{name}" for module, name in COMMANDS.values()))
# Examples that detect faces: dlib is an optional extra (`detect`).
NEEDS_DLIB = {
    "synthforge_hf.models.synthforge.image_processing_synthforge.SynthForgeImageProcessor.detect_faces",
    "synthforge_hf.analysis.PhotoAnalyser.__call__",
}
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SECTION = re.compile(r"^ *(Args|Returns|Raises|Example):$", re.MULTILINE)


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    found = [test for name in MODULES for test in finder.find(importlib.import_module(name))]
    return sorted((test for test in found if test.examples), key=lambda test: test.name)


def _resolve(path: str):
    module, qualified_name = path.split(":")
    target = importlib.import_module(module)
    for part in qualified_name.split("."):
        target = getattr(target, part)
    return target


def _sections(path: str) -> dict[str, str]:
    """The docstring's sections by heading ("" for the text before the first)."""
    parts = SECTION.split(inspect.getdoc(_resolve(path)) or "")
    return {"": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}


def _arguments(target) -> list[str]:
    """The names a caller passes: the constructor's for a class, none for self and cls."""
    return [name for name in inspect.signature(target).parameters if name not in ("self", "cls")]


def _returns_something(target) -> bool:
    if inspect.isclass(target):
        return False
    return inspect.signature(target).return_annotation not in (None, "None")


@pytest.mark.parametrize("example", _examples(), ids=lambda test: test.name)
def test_docstring_example_runs(example, tmp_path, monkeypatch):
    if example.name in NEEDS_DLIB and importlib.util.find_spec("dlib") is None:
        pytest.skip("detecting faces needs dlib (the `detect` extra)")
    monkeypatch.chdir(tmp_path)
    test = copy.copy(example)
    test.globs = dict(example.globs)  # each run starts from the module's own names
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_every_documented_object_has_an_example_that_runs():
    names = {test.name for test in _examples()}
    for path in DOCUMENTED:
        assert path.replace(":", ".") in names, f"{path}: no >>> example"


@pytest.mark.parametrize("path", DOCUMENTED + COMMAND_FUNCTIONS)
def test_docstring_has_args_returns_and_example(path):
    target = _resolve(path)
    sections = _sections(path)
    summary = sections[""].strip().splitlines()
    assert summary and summary[0].strip(), f"{path}: no summary line"
    arguments = _arguments(target)
    if arguments:
        assert "Args" in sections, f"{path}: no Args section"
        missing = [
            name
            for name in arguments
            if not re.search(rf"^ *(?:\w+, *)*\**{re.escape(name)}\b", sections["Args"], re.MULTILINE)
        ]
        assert not missing, f"{path}: Args does not name {missing}"
    if _returns_something(target):
        assert sections.get("Returns", "").strip(), f"{path}: no Returns section"
    assert "Example" in sections, f"{path}: no Example section"
    if path in COMMAND_FUNCTIONS:
        assert "```bash" in sections["Example"] and ">>>" not in sections["Example"], path
    else:
        assert ">>>" in sections["Example"], f"{path}: the example is not a doctest"


@pytest.mark.parametrize("path", COMMAND_FUNCTIONS[1:])
def test_a_commands_help_shows_only_its_docstrings_first_paragraph(path, capsys):
    """The docstring's first paragraph is the command's --help description; its Args, Returns and
    Example sections are for readers of the code."""
    target = _resolve(path)
    with pytest.raises(SystemExit):
        target(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    first_paragraph = " ".join(target.__doc__.split("\n\n")[0].split())
    assert first_paragraph in help_text
    assert "Args:" not in help_text and "```" not in help_text
