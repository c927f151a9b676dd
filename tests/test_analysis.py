"""`synthforge analyse` and `PhotoAnalyser` on real photos: every labelled face found, its landmarks near
the labels, maps pasted only inside the faces' crops, and bad input refused."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from synthforge_hf.analysis import PhotoAnalyser
from synthforge_hf.data.framing import landmark_box
from synthforge_hf.evaluation.detection import box_iou
from synthforge_hf.evaluation.readers import DlibLandmarkXML
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)

pytest.importorskip("dlib", reason="face detection needs dlib-bin (the `detect` extra)")

REAL_FACES = Path(__file__).resolve().parents[2] / "shared" / "real-faces"
pytestmark = pytest.mark.skipif(not REAL_FACES.is_dir(), reason="../shared/real-faces is not here")


@pytest.mark.slow
def test_analyse_a_folder_with_the_default_model_finds_and_places_the_labelled_faces(tmp_path):
    """A fresh process, as a user runs it: `synthforge analyse ../shared/real-faces` with no --model writes
    one table in which each labelled face has a row whose box overlaps its points' box, with landmarks near
    the labels (inner 51 points; the mean shape placed in each true landmark box gives 0.21)."""
    command = [sys.executable, "-m", "synthforge_hf.cli", "analyse", str(REAL_FACES), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "analysis" / "faces.jsonl").read_text().splitlines()]
    assert {Path(row["photo"]).name for row in rows} == {p.name for p in REAL_FACES.glob("*.jpg")}
    assert pq.read_table(tmp_path / "analysis" / "faces.parquet").num_rows == len(rows)
    assert not list((tmp_path / "analysis").glob("*.png"))  # pictures only on request
    labelled = [
        face
        for xml in ("testing_with_face_landmarks.xml", "training_with_face_landmarks.xml")
        for face in DlibLandmarkXML(REAL_FACES / xml)
    ]
    errors, found = [], 0
    for face in labelled:
        truth = np.asarray(face["landmarks"]) + 0.5  # pixel centres at i + 0.5, as the model's
        box = landmark_box(truth)
        same_photo = [r for r in rows if Path(r["photo"]).name == Path(face["path"]).name and r["box"]]
        matches = [r for r in same_photo if box_iou(r["box"], box)[0, 0] > 0.4]
        if matches:
            found += 1
            points = np.asarray(matches[0]["landmarks_68"])
            inter_ocular = np.linalg.norm(truth[36] - truth[45])
            errors.append(np.linalg.norm(points[17:] - truth[17:], axis=-1).mean() / inter_ocular)
    assert found >= 0.9 * len(labelled)
    assert float(np.mean(errors)) < 0.15


@pytest.mark.slow
def test_a_killed_run_resumes_without_analysing_a_photo_twice(tmp_path):
    """kill -9 while the table is being written, then the same command: every photo's rows once, equal
    to an uninterrupted run's."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in sorted(REAL_FACES.glob("*.jpg")):
        shutil.copy(path, photos / path.name)
    command = [sys.executable, "-m", "synthforge_hf.cli", "analyse", "photos", "--batch-size", "1"]
    command += ["--no-progress"]
    subprocess.run(
        [*command, "--out", "straight"], check=True, capture_output=True, cwd=tmp_path, timeout=600
    )
    straight = (tmp_path / "straight" / "faces.jsonl").read_text().splitlines()
    killed = subprocess.Popen([*command, "--out", "killed"], cwd=tmp_path, stderr=subprocess.DEVNULL)
    table = tmp_path / "killed" / "faces.jsonl"
    deadline = time.monotonic() + 300
    while not (table.exists() and table.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    partial = table.read_text().count("\n")
    assert 0 < partial < len(straight)  # it was stopped part way
    result = subprocess.run([*command, "--out", "killed"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done before" in result.stdout and not result.stdout.startswith("0 faces in 0")
    resumed = table.read_text().splitlines()
    key = lambda line: (json.loads(line)["photo"], json.loads(line)["face_index"])  # noqa: E731
    assert sorted(resumed, key=key) == sorted(straight, key=key)


def test_given_boxes_are_analysed_and_maps_stay_inside_their_crops():
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    with torch.no_grad():
        model.segmentation_head.out.bias[1] = 50.0  # every crop pixel "face"
    processor = SynthForgeImageProcessor(size=64, framing={"box_fraction": 0.5, "offset": [0.0, 0.0]})
    analyser = PhotoAnalyser(model, processor)
    photo = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    result = analyser(photo, boxes=[(20, 30, 50, 60), (140, 40, 170, 70)])
    assert [f.box for f in result.faces] == [(20.0, 30.0, 50.0, 60.0), (140.0, 40.0, 170.0, 70.0)]
    # box_fraction 0.5: each crop is the box doubled about its centre, e.g. (5, 15, 65, 75).
    expected = np.zeros((120, 200), dtype=bool)
    expected[15:75, 5:65] = expected[25:85, 125:185] = True
    assert np.array_equal(result.parsing > 0, expected)
    inputs = processor(photo, boxes=[[(20, 30, 50, 60)]], return_tensors="pt")
    with torch.no_grad():
        direct = processor.post_process_landmarks(model(inputs["pixel_values"]), affines=inputs["affines"])
    # A batch of two and a batch of one take different float paths through the convolutions; a wrong crop or
    # affine would move the points by pixels.
    np.testing.assert_allclose(result.faces[0].landmarks, direct[0].numpy(), atol=1e-3)
    assert np.asarray(result.picture(photo)).shape == (120, 600, 3)


def test_no_face_and_bad_input():
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
    analyser = PhotoAnalyser(model, SynthForgeImageProcessor(size=64))
    empty = analyser(np.zeros((80, 80, 3), dtype=np.uint8))
    assert empty.faces == [] and not empty.parsing.any() and empty.to_json()["faces"] == []
    with pytest.raises(ValueError, match="more than the"):
        analyser(Image.new("L", (9000, 9000)))


def _tiny_model_folder(folder: Path) -> Path:
    SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).save_pretrained(folder)
    SynthForgeImageProcessor(size=64).save_pretrained(folder)
    return folder


def _analyse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "synthforge_hf.cli", "analyse", *args, "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_a_bad_photo_is_reported_and_the_others_analysed(tmp_path):
    """One unreadable photo in a batch: a line naming it, the photos after it still analysed, and the
    command's status 1 with the count at the end."""
    model = _tiny_model_folder(tmp_path / "sb")
    photo = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    for name in ("a.png", "c.png"):
        Image.fromarray(photo).save(tmp_path / name)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    result = _analyse(
        "a.png", "broken.jpg", "c.png", "--model", str(model), "--out", "out", "--pictures", cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr  # --no-progress: no bar
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("synthforge analyse: broken.jpg: not a readable image") for line in lines)
    assert lines[-1] == "synthforge analyse: 1 of 3 photos skipped (see above)"
    for stem in ("a", "c"):
        assert json.loads((tmp_path / "out" / f"{stem}.json").read_text())["image_size"] == [80, 60]
        assert Image.open(tmp_path / "out" / f"{stem}.png").size == (240, 60)
    assert not (tmp_path / "out" / "broken.json").exists()
    rows = {json.loads(line)["photo"]: json.loads(line) for line in (tmp_path / "out" / "faces.jsonl").open()}
    assert rows["broken.jpg"]["error"].startswith("broken.jpg: not a readable image") and len(rows) == 3
    assert not (tmp_path / "out" / "faces.parquet").exists()  # written once every photo is done


@pytest.mark.slow
def test_results_never_overwrite_the_photo_or_the_users_files(tmp_path):
    """`analyse d/photo.png --out d` would write d/photo.png: refused, the photo kept byte for byte; a
    file of the user's where a result would go is kept; results of an earlier run are replaced."""
    model = _tiny_model_folder(tmp_path / "sb")
    folder = tmp_path / "d"
    folder.mkdir()
    Image.fromarray(np.full((40, 40, 3), 90, dtype=np.uint8)).save(folder / "photo.png")
    original = (folder / "photo.png").read_bytes()
    result = _analyse("d/photo.png", "--model", str(model), "--out", "d", "--pictures", cwd=tmp_path)
    assert result.returncode == 1
    assert "d/photo.png: the result would overwrite the photo itself; use another --out" in result.stderr
    assert (folder / "photo.png").read_bytes() == original and not (folder / "photo.json").exists()

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photo.json").write_text('{"mine": true}')
    result = _analyse("d/photo.png", "--model", str(model), "--out", "out", "--pictures", cwd=tmp_path)
    assert (
        result.returncode == 1
        and "out/photo.json exists and is not a result of synthforge analyse" in result.stderr
    )
    assert json.loads((tmp_path / "out" / "photo.json").read_text()) == {"mine": True}

    (tmp_path / "out" / "photo.json").unlink()
    for _ in range(2):  # the second run replaces the first run's results
        result = _analyse("d/photo.png", "--model", str(model), "--out", "out", "--pictures", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "photo.json").read_text())["photo"] == "d/photo.png"


def _damaged(folder: Path, damage: str) -> Path:
    """A tiny SB folder, then damaged as folders users bring are: weights stored as int32 (what a wrong
    conversion writes), a tensor of another shape, or a config.json value of the wrong sign or type."""
    from safetensors.torch import load_file, save_file

    _tiny_model_folder(folder)
    weights = load_file(folder / "model.safetensors")
    if damage == "int32":
        weights = {k: (v * 100).to(torch.int32) if v.is_floating_point() else v for k, v in weights.items()}
    elif damage == "shape":
        name = next(k for k, v in weights.items() if v.ndim == 4)
        weights[name] = torch.zeros(3, 3, 3, 3)
    else:
        config = json.loads((folder / "config.json").read_text())
        config["image_size"] = -5 if damage == "negative" else "big"
        (folder / "config.json").write_text(json.dumps(config))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.mark.parametrize(
    "damage, message",
    [
        ("int32", "floating-point weight(s) are stored as integers"),
        ("shape", "weights of the checkpoint have other shapes than its config.json gives them"),
        ("negative", "(config.json): image_size must be a positive integer, got -5"),
        ("text", "(config.json): image_size must be a positive integer, got 'big'"),
    ],
)
def test_a_damaged_model_folder_is_refused_in_one_line(tmp_path, damage, message):
    """Such a folder used to load and 'find' faces whose 68 points all sat on one spot."""
    _damaged(tmp_path / "sb", damage)
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    result = _analyse("photo.png", "--model", "sb", "--out", "out", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("synthforge analyse: sb") and message in last
    assert not (tmp_path / "out").exists()
