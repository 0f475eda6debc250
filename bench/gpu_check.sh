#!/usr/bin/env bash
# GPU proof of `sqlora train` (bench/gpu_check.py) on one CUDA GPU with no internet.
#   bash bench/gpu_check.sh WHEEL_DIR [OUTPUT_DIR]
# WHEEL_DIR holds the wheels the machine lacks (e.g. bitsandbytes, peft, sqlglot, deepspeed and its needs) and a
# `tokenizer/` folder with the embedded SmolLM2 tokenizer; they are installed into a private folder, nothing
# system-wide. Results: OUTPUT_DIR/gpu_check.json and gpu_check.log (default: bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${1:?usage: bash bench/gpu_check.sh WHEEL_DIR [OUTPUT_DIR]}
OUTPUT=${2:-bench/results}
SITE=$(mktemp -d /tmp/sqlora-site.XXXX)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 bench/gpu_check.py --tokenizer "$WHEELS/tokenizer" --output "$OUTPUT/gpu_check.json" "${@:3}"
