#!/usr/bin/env bash
# Regenerates the reference model shipped with the package (src/synthforge_hf/reference_model): the `small` synthetic backbone trained on
# faces of the embedded default head (a graphics baseline, not Next3D data), its card and its figures.
# Its figures land in benchmarks/results/reference-model/ (rendered into the README and the card).
# Usage: bash spaces_app/make_model.sh [WORK_DIR]   (from the repository root, with .venv installed)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-outputs/reference}
BIN=.venv/bin
$BIN/synthforge make-dataset --out "$WORK/data" --num-train 8000 --num-validation 300 --resolution 128 --no-progress
$BIN/synthforge train-sb --data "$WORK/data" --output-dir "$WORK/sb" --config small --max-steps 2600 \
    --batch-size 16 --learning-rate 2e-3 --warmup-steps 50 --eval-steps 650 --eval-samples 100 \
    --save-steps 100 --num-workers 1 --mixed-precision bf16
FIGURES=benchmarks/results/reference-model
$BIN/python benchmarks/real_faces.py --model "$WORK/sb" --out "$FIGURES"
MODEL=src/synthforge_hf/reference_model
rm -rf "$MODEL"
# The weights and a processor that frames real faces as the training data did; no code files (the
# package is the code; `synthforge push` writes it into the folder it sends).
$BIN/python - "$WORK" <<'PY'
import json, pathlib, sys
from synthforge_hf.models.synthforge import SynthForgeForFaceAnalysis, SynthForgeImageProcessor
work = sys.argv[1]
framing = json.load(open("benchmarks/results/reference-model/summary.json"))["framing"]
model = SynthForgeForFaceAnalysis.from_pretrained(f"{work}/sb")
model.save_pretrained("src/synthforge_hf/reference_model")
SynthForgeImageProcessor(size=model.config.image_size, framing=framing).save_pretrained(
    "src/synthforge_hf/reference_model"
)
for code in pathlib.Path("src/synthforge_hf/reference_model").glob("*.py"):
    code.unlink()
PY
$BIN/synthforge model-card "$MODEL" --repo-id synthforge/synthforge-sb-small-default-head \
    --training-data default-head --eval "$FIGURES/generated.json" --eval "$FIGURES/real-faces.json"
$BIN/python benchmarks/tables.py
