#!/usr/bin/env bash
# Regenerates the Space's default model (spaces_app/model): the `small` synthetic backbone trained on
# faces of the embedded default head (a graphics baseline, not Next3D data), its card and its figures.
# About 1.5 hours on 2 CPU cores: 8 min of data, about an hour of training, 2 min of evaluation.
# Usage: bash spaces_app/make_model.sh [WORK_DIR]   (from the repository root, with .venv installed)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-outputs/reference}
BIN=.venv/bin
$BIN/synthforge make-dataset --out "$WORK/data" --num-train 8000 --num-validation 300 --resolution 128 --no-progress
$BIN/synthforge train-sb --data "$WORK/data" --output-dir "$WORK/sb" --config small --max-steps 900 \
    --batch-size 16 --learning-rate 2e-3 --warmup-steps 50 --eval-steps 300 --eval-samples 100 \
    --save-steps 100 --num-workers 1
$BIN/python benchmarks/real_faces.py --model "$WORK/sb" --out "$WORK/figures"
rm -rf spaces_app/model && mkdir -p spaces_app/model
cp "$WORK"/sb/{config.json,model.safetensors,preprocessor_config.json,*.py} spaces_app/model/
cp "$WORK/figures/summary.json" spaces_app/model/figures.json
$BIN/synthforge model-card spaces_app/model --repo-id synthforge/synthforge-sb-small-default-head \
    --training-data default-head --eval "$WORK/figures/generated.json" --eval "$WORK/figures/real-faces.json"
