#!/usr/bin/env bash
# Fills WHEEL_DIR with what bench/gpu_check.sh installs on an offline CUDA machine that already has torch,
# accelerate and a CUDA 13 toolchain (Python 3.12, x86-64): the sqlora dependencies it lacks or holds in older
# versions, bitsandbytes cut down to its CUDA 13 and CPU libraries (the full wheel is 43 MB), DeepSpeed built as a
# pure-Python wheel (PyPI has only its source), and the embedded SmolLM2 tokenizer in `tokenizer/`.
#   bash bench/gpu_wheels.sh WHEEL_DIR        # run here, with the internet or a package mirror; then
#   bash bench/gpu_check.sh WHEEL_DIR         # on the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:?usage: bash bench/gpu_wheels.sh WHEEL_DIR}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$TARGET"
platforms=""
for tag in manylinux_2_17 manylinux2014 manylinux_2_24 manylinux_2_28 manylinux_2_34; do
  platforms+=" --platform ${tag}_x86_64"
done
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms \
  -d "$TARGET" "bitsandbytes>=0.50,<0.51" "transformers>=5.20,<6" "peft>=0.21,<0.22" "trl>=1.16,<2" \
  "datasets>=5.2,<6" dill multiprocess "sqlglot>=30.30,<31" "sqlalchemy>=2.1,<2.2" "typer>=0.29,<0.30" \
  "rich>=15,<16" "gguf>=0.19,<0.20" "inflect>=7.3,<8" hjson pydantic pydantic-core annotated-types typing-inspection
"$PY" -m pip wheel -q --no-deps --no-build-isolation "deepspeed>=0.19,<0.20" -w "$TARGET"
"$PY" - "$TARGET" <<'EOF'
"""Rewrite the bitsandbytes wheel without the native libraries a CUDA 13 machine does not load."""
import base64, hashlib, sys, zipfile
from pathlib import Path

wheel = next(Path(sys.argv[1]).glob("bitsandbytes-*.whl"))
keep = ("_cpu.so", "_cuda130.so", "_cuda132.so")
trimmed = wheel.with_suffix(".tmp")
with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
    record_name, lines = None, []
    for item in source.infolist():
        if item.filename.endswith(".dist-info/RECORD"):
            record_name = item.filename
            continue
        if item.filename.endswith(".so") and not item.filename.endswith(keep):
            continue
        data = source.read(item)
        target.writestr(item, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{item.filename},sha256={digest},{len(data)}")
    target.writestr(record_name, "\n".join([*lines, f"{record_name},,"]) + "\n")
trimmed.replace(wheel)
print(f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB after trimming")

from sqlora.models.embedded import embedded_model_dir
from transformers import AutoTokenizer

AutoTokenizer.from_pretrained(embedded_model_dir()).save_pretrained(Path(sys.argv[1]) / "tokenizer")
EOF
du -sh "$TARGET"
