#!/usr/bin/env bash
# Generate the Python gRPC code and mypy stubs for protos/healthcard/v1/*.proto (healthcardd) and
# protos/healthcard/host/v1/*.proto (healthcard-host) into daemon/_gen/.
#
# Uses grpcio-tools (protoc + the gRPC plugin) and mypy-protobuf (protoc-gen-mypy / protoc-gen-mypy_grpc) from
# the project venv. The generated modules import each other as `healthcard.v1.*`, which would collide with the
# project's own `healthcard` package, so the imports are rewritten to `daemon._gen.healthcard.v1.*` (and
# `daemon._gen.healthcard.host.v1.*`).
# tests/daemon/test_generated.py regenerates into a temporary directory and checks the committed code matches.
#
# Usage: scripts/gen_protos.sh [OUT_DIR]   (default daemon/_gen)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-daemon/_gen}
BIN=$(dirname "$PY")

rm -rf "$OUT/healthcard"
mkdir -p "$OUT/healthcard/v1" "$OUT/healthcard/host/v1"
WKT=$("$PY" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
"$PY" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --plugin=protoc-gen-mypy="$BIN/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$BIN/protoc-gen-mypy_grpc" \
  --python_out="$OUT" --grpc_python_out="$OUT" \
  --mypy_out="$OUT" --mypy_grpc_out="$OUT" \
  protos/healthcard/v1/*.proto protos/healthcard/host/v1/*.proto 2> >(grep -v '^Writing mypy to' >&2)

# Files without a service get empty *_pb2_grpc modules; drop them.
for f in "$OUT"/healthcard/v1/*_pb2_grpc.py "$OUT"/healthcard/host/v1/*_pb2_grpc.py; do
  grep -q 'class .*Stub' "$f" || rm -f "$f" "${f}i"
done

for f in "$OUT"/healthcard/v1/*.py "$OUT"/healthcard/v1/*.pyi "$OUT"/healthcard/host/v1/*.py \
         "$OUT"/healthcard/host/v1/*.pyi; do
  sed -i -E \
    -e 's/^from healthcard\.((host\.)?v1) import /from daemon._gen.healthcard.\1 import /' \
    -e 's/^import healthcard\.((host\.)?v1)\.([a-z_0-9]+)$/import daemon._gen.healthcard.\1.\3/' \
    -e 's/([^./A-Za-z_"'"'"'])healthcard\.((host\.)?v1)\.([a-z_0-9]+_pb2)/\1daemon._gen.healthcard.\2.\4/g' \
    "$f"
done
printf '"""Generated code (scripts/gen_protos.sh); do not edit."""\n' > "$OUT/__init__.py"
: > "$OUT/healthcard/__init__.py"
: > "$OUT/healthcard/v1/__init__.py"
: > "$OUT/healthcard/host/__init__.py"
: > "$OUT/healthcard/host/v1/__init__.py"
