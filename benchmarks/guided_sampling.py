r"""Task-guided sampling against uniform sampling, at equal steps, batch, sample budget and seeds.

    python benchmarks/guided_sampling.py [--samplers uniform pool guided guided-landmarks target] \
        [--seeds 0 1] [--max-steps 600] [--work outputs/guided-sampling] \
        [--out benchmarks/results/guided-sampling.json]

Each sampler trains the `tiny` SB (64 px) from scratch with ``synthforge train-sb --sampling NAME``:
uniform, guided and target on faces generated while training (``max_steps x 16`` fresh faces), pool on a
make-dataset corpus of that many faces (made once, the "train" split of base seed 0), re-weighted by its
losses; guided-landmarks is guided sampling that ranks faces by their landmark NME alone
(``--sampling-loss landmarks``) instead of the total loss. Target sampling aims at the photos of
``../shared/real-faces``, copied without their labels. Each model is then measured on
(a) 200 uniform held-out faces (``synthforge error-map``'s faces, binned by yaw x pitch, expression, jaw
    and FOV),
(b) a hard held-out set: 200 fixed faces whose camera is past 0.6 rad of yaw or pitch, whose FOV lies in
    the outer tenths of its range, or whose expression is strong (RMS coefficient above 1.4),
(c) the 43 labelled faces of ``../shared/real-faces`` (NME over the 51 inner points, cropped from their
    labelled points' box, as benchmarks/real_faces.py does).
Every step resumes (a finished run is read back, not redone); each finished run is written to the JSON
at once, with its training time. The picture beside the JSON shows the mean NMEs per sampler.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from real_faces import REAL_FACES, generated_faces, point_errors, real_faces
from recording import write_result

from synthforge_hf import SynthForgePipeline
from synthforge_hf.data.framing import measure_framing
from synthforge_hf.data.sampling import ControlSpace
from synthforge_hf.evaluation import metrics
from synthforge_hf.evaluation.error_map import measure_error_map
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.models.synthforge.image_processing_synthforge import normalize_pixels
from synthforge_hf.visualization import heat_map

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLERS = {  # name -> train-sb options
    "uniform": ["--sampling", "uniform"],
    "pool": ["--sampling", "pool"],
    "guided": ["--sampling", "guided"],
    "guided-landmarks": ["--sampling", "guided", "--sampling-loss", "landmarks"],
    "target": ["--sampling", "target"],
}
BATCH_SIZE = 16
HELD_OUT = 200
HARD_YAW_PITCH = 0.6  # radians
STRONG_EXPRESSION = 1.4  # RMS coefficient


def _run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def pool_corpus(work: Path, num_faces: int) -> Path:
    """The pool's corpus: a make-dataset folder of ``num_faces`` faces at the tiny SB's input size."""
    data = work / "pool-corpus"
    _run(
        [str(BIN / "synthforge"), "make-dataset", "--out", str(data), "--num-train", str(num_faces)]
        + ["--num-validation", "64", "--resolution", "64", "--no-progress"]
    )
    return data


def target_photos(work: Path) -> Path:
    """The real-face photos without their label files."""
    photos = work / "target-photos"
    photos.mkdir(parents=True, exist_ok=True)
    for photo in sorted(REAL_FACES.glob("*.jpg")):
        if not (photos / photo.name).exists():
            shutil.copyfile(photo, photos / photo.name)
    return photos


def trained(sampler: str, seed: int, work: Path, max_steps: int) -> tuple[Path, float]:
    """The SB trained with ``sampler`` (its folder) and the training's wall time in seconds."""
    model = work / sampler / f"seed-{seed}" / "sb"
    done = model.parent / "done.json"
    if not done.is_file():
        options = {"pool": ["--data", str(pool_corpus(work, max_steps * BATCH_SIZE))]}
        options["target"] = ["--target-photos", str(target_photos(work))]
        start = time.perf_counter()
        _run(
            [str(BIN / "synthforge"), "train-sb", "--output-dir", str(model), *SAMPLERS[sampler]]
            + options.get(sampler, [])
            + ["--config", "tiny", "--max-steps", str(max_steps), "--batch-size", str(BATCH_SIZE)]
            + ["--learning-rate", "2e-3", "--warmup-steps", "50", "--eval-steps", "0"]
            + ["--eval-samples", "32", "--save-steps", "100", "--num-workers", "1", "--seed", str(seed)]
        )
        done.write_text(json.dumps({"train_seconds": time.perf_counter() - start}))
    return model, json.loads(done.read_text())["train_seconds"]


def hard_proposals(space: ControlSpace, count: int):
    """The first ``count`` faces of the "hard" split that are turned, seen at an extreme FOV or strongly
    expressive."""
    candidates = space.of_split(0, "hard", 0, 20 * count)
    parameters = space.parameters(candidates.units)
    low, high = space.ranges.fov
    edge = 0.1 * (high - low)
    expression = parameters["expression"].pow(2).mean(1).sqrt()
    hard = (
        (parameters["yaw"].abs() > HARD_YAW_PITCH)
        | (parameters["pitch"].abs() > HARD_YAW_PITCH)
        | (parameters["fov"] < low + edge)
        | (parameters["fov"] > high - edge)
        | (expression > STRONG_EXPRESSION)
    )
    return candidates[torch.nonzero(hard)[:count, 0]]


@torch.no_grad()
def hard_nme(model, pipe, space: ControlSpace) -> float:
    proposals = hard_proposals(space, HELD_OUT)
    errors = []
    for start in range(0, len(proposals), 25):
        out = space.render(pipe, proposals[start : start + 25], model.config.image_size)
        predicted = model(normalize_pixels(out.images)).landmarks.numpy()
        errors.append(metrics.nme(predicted, out.landmarks_2d.numpy()))
    return float(np.concatenate(errors).mean())


def measured(model_dir: Path, pipe, space: ControlSpace) -> dict:
    """(a) the error map on uniform held-out faces, (b) the hard set's NME, (c) the real faces' NME51."""
    result = model_dir.parent / "measured.json"
    if not result.is_file():
        model = SynthForgeForFaceAnalysis.from_pretrained(model_dir).eval()
        uniform = measure_error_map(model, pipe, HELD_OUT, progress=False).to_dict()
        _, target = generated_faces(model, 100)
        framing = measure_framing(target, model.config.image_size)
        real = point_errors(*real_faces(model, framing, "landmarks"))
        figures = {
            "uniform_nme": uniform["nme"],
            "hard_nme": hard_nme(model, pipe, space),
            "real_nme_inner51": float(real["nme_inner51"].mean()),
            "error_map": uniform,
        }
        result.write_text(json.dumps(figures))
    return json.loads(result.read_text())


def summary(runs: list[dict], samplers: list[str]) -> dict:
    by_sampler = {}
    for name in samplers:
        mine = [r for r in runs if r["sampler"] == name]
        if not mine:
            continue
        by_sampler[name] = {"seeds": [r["seed"] for r in mine]}
        for key in ("uniform_nme", "hard_nme", "real_nme_inner51"):
            values = np.array([r[key] for r in mine])
            by_sampler[name][f"{key}_mean"] = float(values.mean())
            by_sampler[name][f"{key}_spread"] = float(values.max() - values.min())
        by_sampler[name]["train_seconds_mean"] = float(np.mean([r["train_seconds"] for r in mine]))
    return by_sampler


def picture(by_sampler: dict, path: Path) -> None:
    """Mean NME (percent) per sampler (rows) and held-out set (columns); n = seeds."""
    names = list(by_sampler)
    keys = ("uniform_nme_mean", "hard_nme_mean", "real_nme_inner51_mean")
    values = np.array([[by_sampler[n][k] for k in keys] for n in names])
    counts = np.array([[len(by_sampler[n]["seeds"])] * len(keys) for n in names])
    columns = ["(a) uniform", "(b) hard", "(c) real NME51"]
    heat_map(values, counts, columns, names, "NME % by sampler; n = seeds", values.max(), cell=96).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=tuple(SAMPLERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "guided-sampling")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "guided-sampling.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    space = ControlSpace(pipe)
    runs = []
    for seed in args.seeds:  # seed by seed, so a cut-short benchmark has every sampler of the first seed
        for sampler in args.samplers:
            model, seconds = trained(sampler, seed, args.work, args.max_steps)
            figures = measured(model, pipe, space)
            runs.append({"sampler": sampler, "seed": seed, "train_seconds": seconds, **figures})
            by_sampler = summary(runs, args.samplers)
            write_result(
                args.out,
                {
                    "benchmark": "task-guided sampling: tiny SB, equal steps, batch and sample budget",
                    "config": "tiny",
                    "resolution": 64,
                    "max_steps": args.max_steps,
                    "batch_size": BATCH_SIZE,
                    "held_out_faces": HELD_OUT,
                    "samplers": by_sampler,
                    "runs": runs,
                },
            )
            picture(by_sampler, args.out.with_suffix(".png"))
            print(json.dumps(by_sampler[sampler], indent=1), flush=True)


if __name__ == "__main__":
    main()
