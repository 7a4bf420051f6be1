#!/usr/bin/env bash
# The GPU checks in one run (a lent GPU machine has torch and triton but not this package):
# GPU tests, then the backbone and long-convolution benchmarks. Results go to $OUT (or results/).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-benchmarks/results}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1  # the checkout's hyenadna_kipoi (kernels included) stands in for an install
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu_info.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels.py tests/test_fast_path.py 2>&1 | tail -4 | tee "$OUT/gpu_tests.txt"
timeout 200 python3 benchmarks/bench_model.py --device cuda --out "$OUT/model_gpu.md"
timeout 100 python3 benchmarks/bench_long_conv.py --out "$OUT/long_conv_gpu.md"
