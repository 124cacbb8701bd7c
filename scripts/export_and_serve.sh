#!/usr/bin/env bash
# Exports a trained model with its saliency heads for TF Serving (README "Serving"), then serves it with
# Docker when SERVE=1 (CPU image; GPU=1 for tensorflow/serving:latest-gpu), else prints the command.
#   bash scripts/export_and_serve.sh [MODEL.keras] [BASE]   # default: runs/synthetic/full/best.keras serving
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${HRCAM:-}" ]]; then
    if [[ -x .venv/bin/hrcam ]]; then HRCAM=.venv/bin/hrcam; else HRCAM=hrcam; fi
fi
MODEL=${1:-runs/synthetic/full/best.keras}
BASE=${2:-serving}
NAME=${NAME:-hrcam}
"$HRCAM" export --model "$MODEL" --out "$BASE" --name "$NAME" --json
image=tensorflow/serving:latest
gpu=()
if [[ "${GPU:-0}" == 1 ]]; then image=tensorflow/serving:latest-gpu; gpu=(--gpus all); fi
serve=(docker run --rm "${gpu[@]}" -p 8500:8500 -p 8501:8501 -v "$(cd "$BASE" && pwd):/models" "$image"
       --model_config_file=/models/models.config --model_config_file_poll_wait_seconds=60)
if [[ "${SERVE:-0}" == 1 ]]; then
    exec "${serve[@]}"
fi
echo "serve it with:  ${serve[*]}" >&2
echo "then:           curl http://localhost:8501/v1/models/$NAME/metadata" >&2
