"""Training with a sampler (`synthforge train-sb --sampling ...`): killed and resumed runs continue with
the same batches (guided on generated faces, pool on a dataset), several processes share one sampler
state, and target sampling reads a user's photos without labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from synthforge_hf.cli import main
from synthforge_hf.evaluation.readers import DlibLandmarkXML
from synthforge_hf.training.sampled import TARGETS_FILE
from synthforge_hf.training.sb import SBTrainingArguments, train_sb

from .processes import run_cli_in_processes

pytestmark = pytest.mark.slow  # the whole file: see CONTRIBUTING.md, "Tests"

REAL_FACES = Path(__file__).resolve().parents[2] / "shared" / "real-faces"
SMALL_RUN = dict(max_steps=6, batch_size=4, save_steps=2, refresh_steps=2, eval_steps=1000, log_steps=1000)


def _straight_and_resumed(tmp_path: Path, **options) -> tuple[Path, Path]:
    """One uninterrupted run, and one killed after its step-4 checkpoint and resumed (in the main process
    instead of DataLoader workers)."""
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train_sb(SBTrainingArguments(output_dir=str(straight), **SMALL_RUN, **options))
    train_sb(SBTrainingArguments(output_dir=str(interrupted), **SMALL_RUN, **options))
    (interrupted / "model.safetensors").unlink()  # as if the run had died after the step-4 checkpoint
    train_sb(SBTrainingArguments(output_dir=str(interrupted), num_workers=0, **SMALL_RUN, **options))
    return straight, interrupted


def _same_weights(first: Path, second: Path) -> None:
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    for name, tensor in a.items():
        assert torch.equal(b[name], tensor), name


def test_guided_run_resumes_with_the_same_batches(tmp_path):
    straight, resumed = _straight_and_resumed(
        tmp_path, sampling="guided", resolution=32, eval_samples=4, hard_fraction=0.5
    )
    _same_weights(straight, resumed)
    history = [json.loads(line) for line in (resumed / "train_history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history] == [1, 2, 3, 4, 5, 6]
    # from the second round on, half of the 8 samples recorded per round are parents
    assert [r["sampler/parents"] for r in history] == [0, 0, 4, 4, 8, 8]
    assert (resumed / "sampling_map.json").read_text() == (straight / "sampling_map.json").read_text()
    counts = json.loads((resumed / "sampling_map.json").read_text())["counts"]
    assert sum(map(sum, counts)) == 6 * 4  # every face trained on, once, across both segments
    assert (resumed / "sampling_map.png").is_file()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    args = ["make-dataset", "--out", str(out), "--num-train", "48", "--num-validation", "8"]
    assert main([*args, "--resolution", "32", "--no-progress"]) == 0
    return out


def test_pool_run_resumes_with_the_same_batches(tmp_path, corpus):
    straight, resumed = _straight_and_resumed(tmp_path, sampling="pool", data=str(corpus), eval_samples=4)
    _same_weights(straight, resumed)
    history = json.loads((resumed / "train_history.json").read_text())["history"]
    assert [r["step"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert 8 / 48 < history[-1]["sampler/rows_drawn"] <= 24 / 48  # 3 rounds of 8 rows (a row may recur)
    assert all(r["sampler/max_probability_ratio"] > 1 for r in history)  # losses re-weight the rows
    with pytest.raises(ValueError, match="sampling: 'pool' -> 'uniform'"):
        train_sb(SBTrainingArguments(output_dir=str(resumed), data=str(corpus), **SMALL_RUN))


def test_two_processes_share_one_sampler_state(tmp_path):
    run_cli_in_processes(
        ["train-sb", "--output-dir", str(tmp_path), "--sampling", "guided", "--resolution", "32"]
        + ["--max-steps", "3", "--batch-size", "2", "--refresh-steps", "2", "--hard-fraction", "0.5"]
        + ["--eval-steps", "1000", "--save-steps", "2", "--eval-samples", "4", "--num-workers", "1"]
    )
    history = json.loads((tmp_path / "train_history.json").read_text())["history"]
    # after the first round each process holds both processes' 8 samples: half of them are parents
    assert [r["sampler/parents"] for r in history] == [0, 0, 4]
    counts = json.loads((tmp_path / "sampling_map.json").read_text())["counts"]
    assert sum(map(sum, counts)) == 3 * 4


@pytest.mark.skipif(not REAL_FACES.is_dir(), reason="../shared/real-faces is not here")
def test_target_sampling_reads_the_users_photos_without_labels(tmp_path):
    pytest.importorskip("dlib", reason="the detector is the extra `detect` (dlib-bin)")
    photos = tmp_path / "photos"
    photos.mkdir()
    labelled = DlibLandmarkXML(REAL_FACES / "training_with_face_landmarks.xml").faces
    names = sorted({path.name for path, _, _ in labelled})[:3]
    for name in names:
        shutil.copyfile(REAL_FACES / name, photos / name)  # the photos alone: no label file
    (photos / "damaged.jpg").write_bytes(b"not a JPEG")  # reported and left out
    out = tmp_path / "run"
    args = ["train-sb", "--output-dir", str(out), "--sampling", "target", "--target-photos", str(photos)]
    assert main([*args, "--max-steps", "2", "--batch-size", "4", "--eval-samples", "4"]) == 0
    report = json.loads((out / TARGETS_FILE).read_text())
    assert [Path(p).name for p in report["photos"]] == names
    faces = [(path.name, points) for path, _, points in labelled if path.name in names]
    assert report["faces"] == len(faces)
    # each face's matched camera yaw turns the way its human labels do: the nose tip lies off the eyes'
    # midpoint toward the side the face is turned to (a generated head turned by +yaw has it at -x)
    turned = 0
    for index, box, yaw in zip(
        report["photo_index"], report["boxes"], report["camera_yaw_degrees"], strict=True
    ):
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        labels = min(
            (points for name, points in faces if name == names[index]),
            key=lambda points: np.linalg.norm(points.mean(0) - centre),
        )
        offset = (labels[30, 0] - (labels[36, 0] + labels[45, 0]) / 2) / abs(labels[45, 0] - labels[36, 0])
        if abs(offset) > 0.15:  # clearly turned
            turned += 1
            assert np.sign(yaw) == -np.sign(offset), (names[index], offset, yaw)
    assert turned >= 2  # the check has faces to bite on


def test_a_dataset_made_where_a_model_errs(tmp_path):
    """`make-dataset --guided-by MODEL`: a quarter of each block of rows is the split's uniform samples,
    the rest perturb the model's hardest faces, on which it errs more; each row regenerates from its
    columns, the card says how the faces were placed, and the job resumes with its recorded guidance."""
    from synthforge_hf import SynthForgePipeline
    from synthforge_hf.constants import REFERENCE_MODEL
    from synthforge_hf.data.loading import load_split
    from synthforge_hf.data.shards import sample_seed
    from synthforge_hf.evaluation.metrics import nme
    from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
    from synthforge_hf.models.synthforge.image_processing_synthforge import normalize_pixels

    out = tmp_path / "hard"
    args = ["make-dataset", "--out", str(out), "--num-train", "64", "--num-validation", "0"]
    args += [
        "--resolution",
        "128",
        "--guided-by",
        str(REFERENCE_MODEL),
        "--guided-faces",
        "50",
        "--no-progress",
    ]
    assert main(args) == 0
    rows = load_split(out, "train")
    uniform = [i for i in range(64) if i % 16 < 4]
    assert all(rows[i]["seed"] == sample_seed(0, "train", i) for i in uniform)
    children = [i for i in range(64) if i % 16 >= 4]
    assert not any(rows[i]["seed"] == sample_seed(0, "train", i) for i in children)
    pipe = SynthForgePipeline.from_default_head()
    row = rows[children[0]]
    again = pipe(
        seeds=[row["seed"]],
        shape=torch.tensor([row["shape"]]),
        expression=torch.tensor([row["expression"]]),
        pose=torch.tensor([row["pose"]]),
        yaw=row["yaw"],
        pitch=row["pitch"],
        fov=row["fov"],
        resolution=128,
    )
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(row["image"].convert("RGB")))
    model = SynthForgeForFaceAnalysis.from_pretrained(REFERENCE_MODEL).eval()
    pixels = torch.stack(
        [torch.from_numpy(np.asarray(r["image"].convert("RGB"), np.float32) / 255) for r in rows]
    )
    with torch.no_grad():
        predicted = model(normalize_pixels(pixels.permute(0, 3, 1, 2))).landmarks.numpy()
    errors = nme(predicted, np.stack([np.asarray(r["landmarks_2d"]) for r in rows]))
    assert errors[children].mean() > 1.2 * errors[uniform].mean()  # where the model errs
    card = (out / "README.md").read_text()
    assert f"Guided by the model `{REFERENCE_MODEL}`: it was scored on 50 uniform faces" in card
    recorded = json.loads((out / "generation.json").read_text())["guidance"]
    assert len(recorded["parent_seeds"]) == 10  # the hardest fifth of 50
    assert main(args) == 0  # resumed: the recorded guidance is kept, nothing is made again
