#!/usr/bin/env bash
# Runs the tests that touch Keras internals (the saliency graph runner's private attributes, the Keras-native
# HalfModel/FullModel serialisation) against each Keras release hrcam's pin allows (setup.py: keras>=3.12,<4;
# TF 2.21 itself requires keras>=3.12). Each version is installed with --no-deps into a throw-away folder put
# first on PYTHONPATH, so .venv stays untouched. Needs the package index (network); not part of `make test`.
# Usage: bash scripts/check_keras_versions.sh [VERSION ...]   (default: the newest patch of 3.12 ... 3.15)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.12.4 3.13.2 3.14.1 3.15.1)
tests=(tests/test_saliency_core.py tests/test_saliency_known_answers.py tests/test_models_keras.py)
status=0
for v in "${versions[@]}"; do
  dir=$(mktemp -d)
  if ! "$PY" -m pip install --quiet --no-deps --target "$dir" "keras==$v"; then
    echo "keras $v: could not be installed"; status=1; continue
  fi
  got=$(PYTHONPATH="$dir:$PWD" "$PY" -c "import keras; print(keras.__version__)" 2>/dev/null)
  if PYTHONPATH="$dir:$PWD" "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}" > "$dir/log" 2>&1; then
    echo "keras $got: $(tail -1 "$dir/log")"
  else
    echo "keras $got: FAILED"; tail -20 "$dir/log"; status=1
  fi
  rm -rf "$dir"
done
exit $status
