"""Peak memory and time of `synthforge analyse` on large photos: 1, 12 and 48 megapixels, with 1 and 7 faces.

    python benchmarks/analysis_memory.py [--megapixels 1 12 48] [--model DIR]   (default: the reference model)

Each photo is a real group photo of ../shared/real-faces (seven labelled faces), or one face cropped from
it, enlarged to the size (a JPEG, as a camera writes). Each run is a fresh `synthforge analyse` process
on the CPU, whose peak resident memory (imports and model included) is what a user's machine must hold.
Target: a 12-megapixel photo with 7 faces under 1.5 GB. Writes benchmarks/results/analysis-memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from recording import RESULTS, write_result

from synthforge_hf.constants import REFERENCE_MODEL

ROOT = Path(__file__).resolve().parents[1]
GROUP_PHOTO = ROOT.parent / "shared" / "real-faces" / "2008_004176.jpg"
ONE_FACE = (170, 185, 280, 300)  # (left, top, right, bottom): the group photo's lowest face, alone


def measure(photo: Path, model: str, out: Path) -> dict:
    """One fresh `synthforge analyse` process: its peak RSS (MiB), wall seconds and faces found."""
    command = [sys.executable, "-m", "synthforge_hf.cli", "analyse", str(photo), "--model", model]
    command += ["--out", str(out), "--no-progress", "--device", "cpu"]
    wrapper = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    faces = len(json.loads((out / f"{photo.stem}.json").read_text())["faces"])
    peak_mib = int(result.stdout.split()[-1]) / 1024
    return {"peak_rss_mib": round(peak_mib), "seconds": round(seconds, 1), "faces_found": faces}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1, 12, 48])
    parser.add_argument("--model", default=str(REFERENCE_MODEL))
    parser.add_argument("--out", type=Path, default=RESULTS / "analysis-memory.json")
    args = parser.parse_args()
    if not GROUP_PHOTO.exists():
        raise SystemExit(f"{GROUP_PHOTO} not found: the benchmark needs ../shared/real-faces")
    group = Image.open(GROUP_PHOTO).convert("RGB")
    sources = {7: group, 1: group.crop(ONE_FACE)}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for megapixels in args.megapixels:
            for faces, source in sources.items():
                scale = (megapixels * 1e6 / (source.width * source.height)) ** 0.5
                size = (round(source.width * scale), round(source.height * scale))
                photo = work / f"photo-{megapixels:g}mp-{faces}.jpg"
                source.resize(size, Image.Resampling.BICUBIC).save(photo, quality=92)
                row = {"megapixels": megapixels, "size": list(size), "faces": faces}
                row.update(measure(photo, args.model, work / "out"))
                print(json.dumps(row))
                rows.append(row)
    target = next((r for r in rows if r["megapixels"] == 12 and r["faces"] == 7), None)
    write_result(
        args.out,
        {
            "model": args.model,
            "runs": rows,
            "target": "12 MP with 7 faces under 1536 MiB",
            "target_met": None if target is None else target["peak_rss_mib"] < 1536,
            "self_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
    )


if __name__ == "__main__":
    main()
