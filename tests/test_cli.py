import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthforge_hf import MeshFaceGenerator, SynthForgePipeline
from synthforge_hf.cli import main
from synthforge_hf.constants import NUM_SEGMENTATION_CLASSES, SEGMENTATION_CLASSES, SEGMENTATION_COLORS
from synthforge_hf.data.features import SEGMENTATION_PALETTE
from synthforge_hf.visualization import colorize_segmentation, sheet_header_height


@pytest.mark.slow
def test_generate_writes_samples_annotations_and_contact_sheet(tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        main(["generate", "--num-samples", "3", "--resolution", "48", "--seed", "5", "--out", str(out)]) == 0
    )
    assert sorted(p.name for p in (out / "images").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    seg = np.asarray(Image.open(out / "segmentation" / "00001.png"))
    assert seg.shape == (48, 48) and seg.max() < NUM_SEGMENTATION_CLASSES and (seg > 0).any()
    depth = np.load(out / "depth" / "00001.npy")
    assert depth.dtype == np.float32 and ((depth > 0) == (seg > 0)).all()
    record = json.loads((out / "annotations" / "00001.json").read_text())
    assert np.asarray(record["landmarks_2d"]).shape == (68, 2) and len(record["camera"]) == 25
    mask = Image.open(out / "segmentation" / "00001.png")  # a palette PNG: ids as values, official colours
    assert mask.mode == "P" and mask.getpalette()[: 3 * NUM_SEGMENTATION_CLASSES] == SEGMENTATION_PALETTE
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    header = sheet_header_height(48)
    first_image = np.asarray(Image.open(out / "images" / "00001.png"))
    assert sheet.shape[1] == 4 * 48 and np.array_equal(sheet[header + 48 : header + 96, :48], first_image)
    assert np.array_equal(sheet[header + 48 : header + 96, 48:96], colorize_segmentation(seg))
    assert (sheet[:header] < 100).any()  # column titles drawn in the header
    legend = sheet[header + 3 * 48 :].reshape(-1, 3)
    for name in SEGMENTATION_CLASSES:  # every class's swatch is in the legend
        assert (legend == SEGMENTATION_COLORS[name]).all(axis=1).sum() > 20, name
    # The recorded seed regenerates the sample exactly.
    again = tmp_path / "again"
    main(["generate", "--num-samples", "3", "--resolution", "48", "--seed", "5", "--out", str(again)])
    assert np.array_equal(
        np.asarray(Image.open(again / "images" / "00001.png")),
        np.asarray(Image.open(out / "images" / "00001.png")),
    )
    assert "wrote 3 samples" in capsys.readouterr().out


def test_usage_and_argument_errors(tmp_path, capsys):
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["generate", "--num-samples", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["generate", "--head", "flame", "--out", str(tmp_path)])  # needs --head-dir


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--resolution", "7"], "--resolution must be at least 8 pixels, got 7"),
        (["generate", "--head-dir", "x"], "--head-dir is for --head flame or ict-facekit"),
        (["generate", "--batch-size", "0"], "--batch-size must be positive"),
        (["generate", "--appearance", "glasses", "--pipeline", "p"], "--appearance is for the mesh renderer"),
        (["make-dataset", "--num-train", "-3"], "--num-train must not be negative, got -3"),
        (["make-dataset", "--limit", "-1"], "--limit must not be negative"),
        (["make-dataset", "--shard-size", "0"], "--shard-size must be positive"),
        (
            ["make-dataset", "--limit", "8", "--shards", "3:9"],
            "--shards: shard range '3:9' is outside the plan's shards 0:2",
        ),
        (["make-dataset", "--shards", "2:1"], "outside the plan"),
    ],
)
def test_out_of_range_options_are_refused_in_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"synthforge {args[0]}: error: ") and message in error
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_version_and_defaults_in_help(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"synthforge-hf {version('synthforge-hf')}"
    with pytest.raises(SystemExit):
        main(["make-dataset", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "samples per parquet shard (default: 1000)" in text and "(default: None)" not in text


def test_options_come_from_the_dataclasses():
    """Literal choices, repeatable lists, positionals set on the dataclass, unknown options refused."""
    from synthforge_hf.cli.arguments import AnalyseArguments, PushArguments
    from synthforge_hf.cli.parser import CommandLine

    (push,) = CommandLine("p", None, PushArguments).parse(
        ["--model", "a:me/a", "--model", "b:me/b", "c:me/c", "--eval", "a=run.json", "--private"]
    )
    assert push.model == ["a:me/a", "b:me/b", "c:me/c"] and push.eval == ["a=run.json"] and push.private
    (analyse,) = CommandLine("p", None, AnalyseArguments).parse(
        ["x.jpg", "y.png", "--model", "m", "--out", "o"]
    )
    assert analyse.photos == ["x.jpg", "y.png"] and analyse.out == Path("o")  # globs are expanded later
    for argv in (["--model", "m", "--out", "o"], ["x.jpg", "--model", "m", "--out", "o", "--colour", "red"]):
        with pytest.raises(SystemExit) as exit_:
            CommandLine("p", None, AnalyseArguments).parse(argv)
        assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["generate", "--head", "mannequin", "--out", "unused"])


@pytest.mark.slow
def test_generate_with_ict_facekit(assets_dir, tmp_path):
    out = tmp_path / "ict"
    args = ["generate", "--head", "ict-facekit", "--head-dir", str(assets_dir / "ict-facekit" / "FaceXModel")]
    assert main([*args, "--num-samples", "2", "--resolution", "64", "--out", str(out)]) == 0
    seg = np.asarray(Image.open(out / "segmentation" / "00000.png"))
    assert len(np.unique(seg)) > 8  # background and many face parts
    record = json.loads((out / "annotations" / "00000.json").read_text())
    assert len(record["expression"]) == 14 and min(record["expression"]) >= 0.0


def test_missing_flame_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit, match="flame.is.tue.mpg.de|landmark"):
        main(["generate", "--head", "flame", "--head-dir", str(tmp_path), "--out", str(tmp_path / "o")])


def test_every_option_of_every_command_has_help(monkeypatch):
    """Each command's parser, caught as it parses: built from the option dataclasses, no option without a
    help text."""
    import argparse
    import importlib

    from synthforge_hf import cli
    from synthforge_hf.cli.parser import CommandLine

    class Parsed(Exception):
        pass

    undocumented = {}

    def capture(parser, *args, **kwargs):
        assert isinstance(parser, CommandLine), parser.prog
        undocumented[parser.prog] = [
            action.option_strings[0] if action.option_strings else action.dest
            for action in parser._actions
            if not action.help and action.dest != "help"
        ]
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    for module, function in cli.COMMANDS.values():
        with pytest.raises(Parsed):
            getattr(importlib.import_module(module), function)([])
    assert len(undocumented) == len(cli.COMMANDS)
    assert {prog: names for prog, names in undocumented.items() if names} == {}


@pytest.mark.parametrize(
    "args, words",
    [
        (["generate", "--pipeline", "{empty}", "--out", "{empty}/out"], "model_index.json"),
        (["evaluate", "--model", "{empty}", "--benchmark", "300w", "--data", "{empty}"], "{empty}"),
        (["import-official", "{empty}", "--out", "{empty}/out"], "annotations not found"),
    ],
)
@pytest.mark.slow
def test_bad_files_are_one_line_errors_in_a_fresh_process(tmp_path, args, words):
    """What a user sees: one line naming the file or folder, no traceback (unless asked for)."""
    import os
    import subprocess
    import sys

    args = [a.format(empty=tmp_path) for a in args]
    command = [sys.executable, "-m", "synthforge_hf.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip() and "it/s]" not in line]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[-1].startswith(f"synthforge {args[0]}: ") and words.format(empty=tmp_path) in lines[-1]
    env = {**os.environ, "SYNTHFORGE_TRACEBACK": "1"}
    traced = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert traced.returncode == 1 and "Traceback" in traced.stderr


def test_help_and_usage_errors_import_no_heavy_library():
    """`synthforge --help`, a command's --help and its usage errors answer before torch or transformers
    load (each takes seconds to import): only the chosen command's options are read."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from synthforge_hf.cli import main\n"
        "for argv in (\n"
        "    ['--help'], ['analyse', '--help'], ['analyse'],\n"
        "    ['train-sb', '--batch-size', '0', '--data', 'd', '--output-dir', 'o'],\n"
        "    ['generate', '--seed', '-1', '--out', 'x'], ['make-dataset', '--shard-size', '0'],\n"
        "):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('torch', 'transformers', 'diffusers', 'datasets')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "--batch-size must be positive, got 0" in result.stderr
    assert "--seed must be an integer from 0 to 2**63 - 1, got -1" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["generate", "--device", "cuda:7", "--out", "o"],
            "--device cuda:7: this machine has no such device",
        ),
        (
            ["generate", "--device", "nonsense", "--out", "o"],
            "--device nonsense: not a device name torch knows",
        ),
        (["evaluate", "--model", "/no/such/folder", "--benchmark", "300w", "--data", "d"], "no such folder"),
        (
            [
                "train-lf",
                "--backbone",
                "./missing",
                "--benchmark",
                "300w",
                "--data",
                "d",
                "--output-dir",
                "o",
            ],
            "--backbone ./missing: no such folder",
        ),
    ],
)
def test_devices_and_model_folders_that_are_not_there_are_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code.startswith(f"synthforge {args[0]}: ") and message in exit_.value.code
    assert not (tmp_path / "o").exists()


def test_appearance_parts_from_the_command_line(tmp_path, capsys):
    """``--appearance`` turns the mesh renderer's optional parts on (recorded in the dataset's pipeline
    fingerprint, so a resume with other parts is refused); an unknown part is named in one line and
    nothing is written."""
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--appearance", "wings", "--out", str(tmp_path / "no")])
    assert "unknown part 'wings'" in str(exit_.value) and "glasses" in str(exit_.value)
    assert "\n" not in str(exit_.value) and not (tmp_path / "no").exists()
    shown = tmp_path / "shown"
    drawn = [
        "--num-samples",
        "4",
        "--resolution",
        "32",
        "--seed",
        "0",
        "--appearance",
        "glasses",
        "occluders",
    ]
    assert main(["generate", *drawn, "--out", str(shown)]) == 0
    parts = np.stack([np.asarray(Image.open(shown / "parts" / f"0000{i}.png")) for i in range(4)])
    pipe = SynthForgePipeline.from_assets("default", MeshFaceGenerator(glasses=True, occluders=True))
    expected = pipe(
        num_samples=4, resolution=32, generator=torch.Generator().manual_seed(0), output_type="np"
    )
    assert np.array_equal(parts, expected.generator_outputs["parts"]) and parts.max() > 0
    main(["generate", "--num-samples", "1", "--resolution", "32", "--out", str(tmp_path / "plain")])
    assert not (tmp_path / "plain" / "parts").exists()  # nothing drawn in front of the head
    common = ["--limit", "2", "--shard-size", "2", "--resolution", "32", "--no-progress"]
    out = tmp_path / "faces"
    assert main(["make-dataset", "--out", str(out), "--appearance", "glasses", "teeth", *common]) == 0
    spec = json.loads((out / "generation.json").read_text())
    assert spec["pipeline"]["appearance"] == ["teeth", "glasses"]
    card = (out / "README.md").read_text()
    assert (
        "`MeshFaceGenerator` with the appearance parts `teeth`, `glasses`;" in card and "zero pose," in card
    )
    with pytest.raises(SystemExit):
        main(["make-dataset", "--out", str(out), *common])  # other parts: not this dataset's pipeline


def test_the_dataset_card_says_which_pose_was_drawn():
    from synthforge_hf.hub.dataset_card import _pose_phrase

    assert _pose_phrase({"yaw": 0.8}) == "zero pose"  # ranges saved before roll existed
    assert _pose_phrase({"roll": 0.0, "jaw_open": 0.0}) == "zero pose"
    assert _pose_phrase({"roll": 0.4, "jaw_open": 0.3}) == (
        "zero pose but for the head's roll U(-0.4, 0.4) rad and the jaw's opening U(0, 0.3) rad"
    )
