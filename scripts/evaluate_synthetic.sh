#!/usr/bin/env bash
# Scores the maps of a trained FullModel against the exact masks of fresh synthetic test scenes:
# low-res CAM, high-res CAM, the refined CAM and Grad-CAM (after scripts/train_synthetic.sh).
#   bash scripts/evaluate_synthetic.sh [MODEL.keras]     # default: runs/synthetic/full/best.keras
# Writes scores.json and scores.png to OUT (default runs/synthetic/scores) and prints the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${HRCAM:-}" ]]; then
    if [[ -x .venv/bin/hrcam ]]; then HRCAM=.venv/bin/hrcam; else HRCAM=hrcam; fi
fi
MODEL=${1:-runs/synthetic/full/best.keras}
OUT=${OUT:-runs/synthetic/scores}
"$HRCAM" score --model "$MODEL" --data synthetic --method cam --method hrcam --method refined \
    --method gradcam --method center --out "$OUT" --json
