r"""What each new appearance part of the mesh backend is worth on real photos, at a fixed small budget.

    python benchmarks/appearance_ablation.py [--variants default all] [--seeds 0 1] [--num-train 3000] \
        [--max-steps 600] [--work outputs/ablation] [--out benchmarks/results/appearance-ablation.json] \
        [--collect]

For each variant (a set of `MeshFaceGenerator` options and `SamplingRanges` fields, `VARIANTS`) this saves
the pipeline, makes a dataset with it (``synthforge make-dataset --pipeline``, 128 px), trains the
`small` SB on it with the same steps, batch, learning rate and seeds as every other variant
(``synthforge train-sb``), and measures the model with `benchmarks/real_faces.py`: NME on fresh
generated validation faces of the default appearance (the same yardstick for every variant) and NME51 on
the 43 faces of ``../shared/real-faces`` (cropped from their labelled points' box). A variant's dataset
is shared by its seeds; every step resumes (a finished run is read back, not redone), so a killed
benchmark goes on where it stopped. After each run the JSON is written anew from every run of the asked
variants and seeds finished in ``--work`` so far, with a bar chart beside it (the same name, .png);
``--collect`` only writes them, training nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from recording import write_result

from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# name -> (MeshFaceGenerator options, SamplingRanges fields)
_EVERY_PART = {
    "lids_follow_landmarks": True,
    "teeth": True,
    "hair_styles": True,
    "clothing": True,
    "glasses": True,
    "scenes": True,
    "occluders": True,
    "skin_detail": True,
    "hats": True,
}
VARIANTS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "hair-eyes-mouth": (
        {"lids_follow_landmarks": True, "teeth": True, "hair_styles": True},
        {"jaw_open": 0.3},
    ),
    "clothes-accessories": ({"clothing": True, "glasses": True, "occluders": True, "hats": True}, {}),
    "skin": ({"skin_detail": True}, {}),
    "environment-poses": ({"scenes": True}, {"roll": 0.4, "yaw": 1.2}),
    "environment": ({"scenes": True}, {}),  # the scenes and their light with today's pose ranges
    "all": (_EVERY_PART, {"roll": 0.4, "yaw": 1.2, "jaw_open": 0.3}),
    # every part with today's pose ranges: what the look alone is worth, apart from the wider poses
    "all-but-poses": (_EVERY_PART, {"jaw_open": 0.3}),
    # every part with today's sampling ranges, the jaw's included: the look alone
    "look": (_EVERY_PART, {}),
    # the pose ranges apart: in-plane roll alone, and a narrower camera pitch than today's
    "roll": ({}, {"roll": 0.3}),
    "narrow-pitch": ({}, {"pitch": 0.5}),
}


def _run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def dataset(variant: str, work: Path, num_train: int) -> Path:
    """The variant's dataset folder, made (or resumed) with its saved pipeline."""
    generator_options, sampling = VARIANTS[variant]
    pipeline = work / variant / "pipeline"
    if not (pipeline / "model_index.json").is_file():
        SynthForgePipeline.from_assets(
            "default", MeshFaceGenerator(**generator_options), **sampling
        ).save_pretrained(pipeline)
    data = work / variant / "data"
    _run(
        [
            str(BIN / "synthforge"),
            "make-dataset",
            "--out",
            str(data),
            "--pipeline",
            str(pipeline),
            "--num-train",
            str(num_train),
            "--num-validation",
            "100",
            "--resolution",
            "128",
            "--no-progress",
        ]
    )
    return data


def trained(data: Path, run: Path, seed: int, max_steps: int) -> Path:
    """The SB trained on ``data`` in ``run`` (its final model in ``run/sb``)."""
    model = run / "sb"
    if not (model / "config.json").is_file() or not (run / "done").is_file():
        _run(
            [
                str(BIN / "synthforge"),
                "train-sb",
                "--data",
                str(data),
                "--output-dir",
                str(model),
                "--config",
                "small",
                "--max-steps",
                str(max_steps),
                "--batch-size",
                "16",
                "--learning-rate",
                "2e-3",
                "--warmup-steps",
                "50",
                "--eval-steps",
                "0",
                "--eval-samples",
                "50",
                "--save-steps",
                "100",
                "--num-workers",
                "1",
                "--mixed-precision",
                "bf16",
                "--seed",
                str(seed),
            ]
        )
        (run / "done").write_text("")
    return model


def measure(model: Path, run: Path) -> None:
    """Run `benchmarks/real_faces.py` on ``model`` (no label fine-tuning) into ``run/real-faces``."""
    if not (run / "real-faces" / "summary.json").is_file():
        _run(
            [
                str(BIN / "python"),
                "benchmarks/real_faces.py",
                "--model",
                str(model),
                "--out",
                str(run / "real-faces"),
                "--lf-steps",
                "0",
            ]
        )


def finished_runs(work: Path, variants: list[str], seeds: list[int]) -> list[dict]:
    """The figures of every run of ``variants`` x ``seeds`` measured in ``work`` so far, seed by seed."""
    runs = []
    for seed in seeds:
        for variant in variants:
            summary = work / variant / f"seed-{seed}" / "real-faces" / "summary.json"
            if summary.is_file():
                record = json.loads(summary.read_text())
                runs.append(
                    {
                        "variant": variant,
                        "seed": seed,
                        "generated_nme": record["generated"]["nme"],
                        "real_nme_inner51": record["real_landmarks_box"]["nme_inner51"],
                        "real_median_nme_inner51": record["real_landmarks_box"]["median_nme_inner51"],
                    }
                )
    return runs


def summary(runs: list[dict], variants: list[str]) -> dict:
    """Per variant with runs: its options, seeds, and the mean and spread of its figures over them."""
    by_variant = {}
    for name in variants:
        mine = [r for r in runs if r["variant"] == name]
        if mine:
            real = np.array([r["real_nme_inner51"] for r in mine])
            generated = np.array([r["generated_nme"] for r in mine])
            by_variant[name] = {
                "generator_options": VARIANTS[name][0],
                "sampling_options": VARIANTS[name][1],
                "seeds": [r["seed"] for r in mine],
                "real_nme_inner51_mean": float(real.mean()),
                "real_nme_inner51_spread": float(real.max() - real.min()),
                "generated_nme_mean": float(generated.mean()),
            }
    return by_variant


def bar_chart(by_variant: dict, path: Path) -> None:
    """Horizontal bars per variant: its mean real-face NME51 (dark, with the seeds' range as a whisker)
    and generated-face NME (light), in percent, with the seed count."""
    names = list(by_variant)
    label_width, bar_width, row = 200, 420, 44
    high = max(
        max(v["real_nme_inner51_mean"] + v["real_nme_inner51_spread"], v["generated_nme_mean"])
        for v in by_variant.values()
    )
    scale = bar_width / (high * 1.1)
    image = Image.new("RGB", (label_width + bar_width + 90, 40 + row * len(names) + 30), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), "NME % at equal budget: real faces NME51 (dark), generated faces (light)", fill="black")
    for k, name in enumerate(names):
        record, top = by_variant[name], 40 + row * k
        real, spread = record["real_nme_inner51_mean"], record["real_nme_inner51_spread"]
        draw.text((8, top + 12), f"{name} (n={len(record['seeds'])})", fill="black")
        draw.rectangle([label_width, top + 4, label_width + real * scale, top + 20], fill=(150, 30, 30))
        low_end, high_end = (real - spread / 2) * scale, (real + spread / 2) * scale
        draw.line([label_width + low_end, top + 12, label_width + high_end, top + 12], fill="black", width=2)
        draw.text((label_width + high_end + 6, top + 6), f"{100 * real:.1f}", fill="black")
        generated = record["generated_nme_mean"]
        draw.rectangle(
            [label_width, top + 22, label_width + generated * scale, top + 36], fill=(240, 160, 150)
        )
        draw.text((label_width + generated * scale + 6, top + 23), f"{100 * generated:.1f}", fill="black")
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=["default", "all"], choices=tuple(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--num-train", type=int, default=3000)
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "ablation")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="write the JSON from the runs already finished in --work; make and train nothing",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "appearance-ablation.json"
    )
    args = parser.parse_args()

    # Seed by seed, so a cut-short benchmark has every variant of the first seed.
    pending = [] if args.collect else [(seed, variant) for seed in args.seeds for variant in args.variants]
    for seed, variant in [(None, None), *pending]:
        if variant is not None:
            data = dataset(variant, args.work, args.num_train)
            run = args.work / variant / f"seed-{seed}"
            measure(trained(data, run, seed, args.max_steps), run)
        runs = finished_runs(args.work, args.variants, args.seeds)
        if runs:
            by_variant = summary(runs, args.variants)
            write_result(
                args.out,
                {
                    "benchmark": "appearance ablation: small SB, equal budget, real-face NME51 per variant",
                    "num_train": args.num_train,
                    "max_steps": args.max_steps,
                    "batch_size": 16,
                    "resolution": 128,
                    "variants": by_variant,
                    "runs": runs,
                },
            )
            bar_chart(by_variant, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
