#!/usr/bin/env bash
# Trains the HR-CAM models on ../shared/data/tiny-imagenet-10 (stage 1, then stage 2 with both objectives)
# into runs/tiny-imagenet; resumable (run it again after an interruption). Used by BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
RUN=${RUN:-runs/tiny-imagenet}
"$BIN/hrcam" train-half --config opts/tiny-imagenet.yaml --run-dir "$RUN" --quiet --json "$@"
"$BIN/hrcam" train-full --config opts/tiny-imagenet.yaml --run-dir "$RUN" --quiet --json --objective reconstruct "$@"
"$BIN/hrcam" train-full --config opts/tiny-imagenet.yaml --run-dir "$RUN" --quiet --json --objective align "$@"
