#!/usr/bin/env bash
# The two-stage HR-CAM recipe on built-in synthetic scenes (the `synthetic` preset, opts/synthetic.yaml):
# stage 1 (HalfModel), then stage 2 (FullModel, the paper's `reconstruct` objective) into runs/synthetic.
# Resumable: run it again after an interruption. Extra arguments go to both commands, e.g.
#   bash scripts/train_synthetic.sh --set half.epochs=2 --set full.epochs=1
# HRCAM (default: .venv/bin/hrcam, else hrcam on PATH) and RUN (default runs/synthetic) can be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${HRCAM:-}" ]]; then
    if [[ -x .venv/bin/hrcam ]]; then HRCAM=.venv/bin/hrcam; else HRCAM=hrcam; fi
fi
RUN=${RUN:-runs/synthetic}
"$HRCAM" train-half --config opts/synthetic.yaml --run-dir "$RUN" --json "$@"
"$HRCAM" train-full --config opts/synthetic.yaml --run-dir "$RUN" --json --objective reconstruct "$@"
