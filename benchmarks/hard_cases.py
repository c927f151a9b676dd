r"""How much harder a dataset made where a model errs is for that model.

    python benchmarks/hard_cases.py [--model DIR] [--faces 400] [--work outputs/hard-cases] \
        [--out benchmarks/results/hard-cases.json]

Makes two datasets of ``--faces`` faces at the model's input size with ``synthforge make-dataset``: one
uniform, one ``--guided-by`` the model (scored on 400 uniform faces); then measures the model's landmark
NME on each, and on the guided rows that are not the uniform floor. Each dataset resumes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from recording import write_result

from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.data.loading import load_split
from synthforge_hf.data.sampling import ROW_BLOCK
from synthforge_hf.evaluation.metrics import nme
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis
from synthforge_hf.models.synthforge.image_processing_synthforge import normalize_pixels

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UNIFORM_SHARE = 0.25


@torch.no_grad()
def errors(model, folder: Path) -> np.ndarray:
    """The model's NME on every train row of ``folder``."""
    rows = load_split(folder, "train")
    found = []
    for start in range(0, len(rows), 50):
        batch = [rows[i] for i in range(start, min(start + 50, len(rows)))]
        pixels = torch.stack(
            [torch.from_numpy(np.asarray(r["image"].convert("RGB"), np.float32) / 255) for r in batch]
        ).permute(0, 3, 1, 2)
        predicted = model(normalize_pixels(pixels)).landmarks.numpy()
        found.append(nme(predicted, np.stack([np.asarray(r["landmarks_2d"]) for r in batch])))
    return np.concatenate(found)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(REFERENCE_MODEL))
    parser.add_argument("--faces", type=int, default=400)
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "hard-cases")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hard-cases.json")
    args = parser.parse_args()
    model = SynthForgeForFaceAnalysis.from_pretrained(args.model).eval()
    size = str(model.config.image_size)
    common = ["--num-train", str(args.faces), "--num-validation", "0", "--resolution", size, "--no-progress"]
    folders = {"uniform": args.work / "uniform", "guided": args.work / "guided"}
    guided = ["--guided-by", args.model, "--guided-faces", "400", "--uniform-share", str(UNIFORM_SHARE)]
    for name, folder in folders.items():
        command = [str(BIN / "synthforge"), "make-dataset", "--out", str(folder), *common]
        subprocess.run(command + (guided if name == "guided" else []), check=True, cwd=ROOT)
    uniform, hard = errors(model, folders["uniform"]), errors(model, folders["guided"])
    floor = np.arange(len(hard)) % ROW_BLOCK < round(UNIFORM_SHARE * ROW_BLOCK)
    write_result(
        args.out,
        {
            "benchmark": "make-dataset --guided-by: a dataset where a model errs, measured by that model",
            "model": "the reference model" if args.model == str(REFERENCE_MODEL) else args.model,
            "faces": args.faces,
            "resolution": model.config.image_size,
            "uniform_share": UNIFORM_SHARE,
            "uniform_dataset_nme": float(np.nanmean(uniform)),
            "guided_dataset_nme": float(np.nanmean(hard)),
            "guided_rows_nme": float(np.nanmean(hard[~floor])),
            "uniform_floor_rows_nme": float(np.nanmean(hard[floor])),
        },
    )


if __name__ == "__main__":
    main()
