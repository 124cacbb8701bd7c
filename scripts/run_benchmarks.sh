#!/usr/bin/env bash
# `make bench`: runs each bench_*.py in this folder, each printing one JSON document on stdout.
#   bash scripts/run_benchmarks.sh           # quick settings (a few minutes on 2 CPU cores; a smoke run,
#                                            #   not the figures in BENCHMARKS.md)
#   bash scripts/run_benchmarks.sh --full    # the commands BENCHMARKS.md records (long; a quiet machine)
# PYTHON (default .venv/bin/python, else python3) picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
if [[ "${1:-}" == "--full" ]]; then
    runs=(
        "bench_models.py --size 64 224 --repeats 5"
        "bench_pipeline.py --n 1024 --repeats 3"
        "bench_export.py --size 224 --repeats 7 --latency-calls 20"
        "bench_conv_transpose.py"
        "bench_saliency.py --repeats 9"
    )
else
    runs=(
        "bench_models.py --size 64 --batch 8 --repeats 1"
        "bench_pipeline.py --n 32 --repeats 1"
        "bench_export.py --size 64 --batch 8 --repeats 1 --latency-calls 2"
        "bench_conv_transpose.py --repeats 1 --calls 1"
        "bench_saliency.py --models half --batch 8 --repeats 1 --samples 2"
    )
fi
for run in "${runs[@]}"; do
    echo "== scripts/$run" >&2
    # shellcheck disable=SC2086  # word splitting of the argument list is intended
    "$PYTHON" scripts/$run
done
