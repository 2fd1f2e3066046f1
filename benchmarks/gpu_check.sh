#!/usr/bin/env bash
# The one GPU check for issue 22 (kernels on Hopper), for a session that is lent an H100/H200.
#
#   bash benchmarks/gpu_check.sh            # from the repository root of a copied tree
#   bash benchmarks/gpu_check.sh --dry-run  # no GPU: every stage in its CPU form (interpreter)
#
# Installs nothing: uses the machine's python with torch and triton, the project through
# PYTHONPATH. pytest is used if importable, else borrowed (pure-Python packages only) from a
# carried .venv. Stages, each under its own time limit so the whole run stays under 8 minutes
# on an H200 (budgets in seconds beside each):
#   1. environment: GPU, driver, torch, triton                                    (~5)
#   2. the kernel tests on CUDA (pytest -m gpu: bf16 and fp16 vs the torch refs)  (<= 120)
#   3. kernels_bench.py: INT4 GEMV/GEMM at K2 expert shapes, batch 1/4/16/64, in GB/s and % of
#      HBM peak beside torch bf16 and dequantise-then-matmul; fused-MoE decode layer vs its
#      bytes-moved floor; MLA decode at 64 and 8 heads                             (<= 180)
#   4. decode_slice_bench.py: end-to-end decode on a 4-layer K2-width slice with INT4 experts,
#      eager and with CUDA graphs, tokens/s and % of the bandwidth floor          (<= 130)
# Logs go to $OUT (when set) or ./gpu_check_logs. The exit status is the first failing stage's.
# GPU_CHECK_TUNE=1 adds a KIMI_ENGINE_AUTOTUNE=1 rerun of stage 3 (times each table entry's
# alternatives: what to copy into engine/kimi_engine/kernels/tuned_configs.json).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# $PYTHON, else the first of python3 / python / .venv/bin/python that imports torch (the venv
# last: where it exists on a GPU machine it is this checkout's CPU build).
if [ -z "${PYTHON:-}" ]; then
    for cand in python3 python "$ROOT/.venv/bin/python"; do
        if "$cand" -c "import torch" 2>/dev/null; then PYTHON=$cand; break; fi
    done
fi
PY=${PYTHON:-python3}
LOGS=${OUT:-$ROOT/gpu_check_logs}
mkdir -p "$LOGS"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
export PYTHONPATH="$ROOT/engine:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_DEFAULT_FP_FUSION=1  # Triton 3.9's default, stated (silences its warning)
STATUS=0
START=$(date +%s)

stage() {  # stage NAME SECONDS CMD...: run with a time limit, tee the log, remember a failure
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s, t=$(( $(date +%s) - START ))s)"
    timeout --signal=TERM --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc"
    if [ "$rc" -ne 0 ] && [ "$STATUS" -eq 0 ]; then STATUS=$rc; fi
}

pytest_path() {  # PYTHONPATH entry providing pytest when the machine has none ("" if it has one)
    if "$PY" -c "import pytest" 2>/dev/null; then return 0; fi
    local site
    site=$(ls -d "$ROOT"/.venv/lib/python3*/site-packages 2>/dev/null | head -1)
    if [ -z "$site" ]; then echo "no pytest on this machine and no .venv to borrow it from" >&2; return 1; fi
    local dir
    dir=$(mktemp -d)
    for pkg in pytest _pytest pluggy iniconfig packaging; do ln -s "$site/$pkg" "$dir/$pkg"; done
    echo "$dir"
}

stage environment 30 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null \
    || echo 'no nvidia-smi'; $PY -c 'import torch, triton; print(\"torch\", torch.__version__, \"cuda\", \
torch.version.cuda, \"available\", torch.cuda.is_available()); print(\"triton\", triton.__version__); \
print(\"device\", torch.cuda.get_device_name() if torch.cuda.is_available() else \"cpu\")'"

if EXTRA=$(pytest_path); then
    if [ "$DRY" -eq 1 ]; then
        # CPU: the same test files under the interpreter (a quick subset: the GPU params skip here).
        stage kernel_tests 600 env ${EXTRA:+PYTHONPATH="$EXTRA:$PYTHONPATH"} TRITON_INTERPRET=1 "$PY" -m pytest \
            -q -x -p no:cacheprovider --confcutdir=tests/engine/kernels tests/engine/kernels/test_kernel_int4_matmul.py \
            -k "nibble or empty"
    else
        stage kernel_tests 120 env ${EXTRA:+PYTHONPATH="$EXTRA:$PYTHONPATH"} "$PY" -m pytest -q -p no:cacheprovider \
            --confcutdir=tests/engine/kernels -m gpu tests/engine/kernels
    fi
else
    echo "=== kernel_tests: skipped (no pytest)"
    [ "$STATUS" -eq 0 ] && STATUS=1
fi

if [ "$DRY" -eq 1 ]; then
    stage kernels_bench 600 env TRITON_INTERPRET=1 "$PY" benchmarks/kernels_bench.py --dry-run --shrink 16 \
        --batches 1,17 --tokens 2 --experts 12 --context 40 --mla-heads 4
    stage decode_slice 300 "$PY" benchmarks/decode_slice_bench.py --dry-run --batches 1,3
else
    stage kernels_bench 180 "$PY" benchmarks/kernels_bench.py --batches 1,4,16,64 --tokens 1,4,16 --experts 64 \
        --context 4096 --mla-heads 64,8
    stage decode_slice 130 "$PY" benchmarks/decode_slice_bench.py --layers 4 --batches 1,8 --context 512 --steps 32
    if [ "${GPU_CHECK_TUNE:-0}" = "1" ]; then
        stage kernels_bench_tuned 200 env KIMI_ENGINE_AUTOTUNE=1 "$PY" benchmarks/kernels_bench.py \
            --batches 1,4,16,64 --tokens 1,4,16 --experts 64 --mla-heads 64,8
    fi
fi

echo "=== gpu_check done in $(( $(date +%s) - START ))s, status $STATUS; logs in $LOGS"
exit "$STATUS"
