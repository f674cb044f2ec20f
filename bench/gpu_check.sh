#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, run the GPU-marked tests and the training
# loop benchmark on CUDA (bf16 off and on), and print one table of both.
#
#   bench/gpu_check.sh                    from anywhere; PYTHON=... picks the interpreter
#   EPOCHS=20 REPEATS=3 COMPILE=1 OUT=dir bench/gpu_check.sh
#   DEVICE=cpu EPOCHS=2 REPEATS=1 bench/gpu_check.sh    a smoke test of this script, no GPU
#
# It needs torch with CUDA, numpy, scikit-learn and pytest; not optuna or pydantic: the GPU
# tests and the benchmark import only automl's training side, from this checkout, so a GPU
# image without automl's search dependencies runs it as it is. Exit status: 0 when every
# GPU test passed and the benchmark ran.
set -uo pipefail
cd "$(dirname "$0")/.."

DEVICE="${DEVICE:-cuda}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in .venv/bin/python python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
       "import torch, sys; sys.exit('$DEVICE' == 'cuda' and not torch.cuda.is_available())" \
       2>/dev/null; then
      PY="$candidate"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "gpu_check: no Python here has a torch that sees a CUDA GPU" >&2
  exit 2
fi
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
  tee "$OUT/gpu.txt"

# -c /dev/null: the project's pytest settings name optuna's warning class, which a bare GPU
# image may not have; --noconftest for the same reason (the GPU tests need no fixtures).
"$PY" -m pytest tests/training/test_torch_gpu.py -m gpu -c /dev/null --rootdir . --noconftest \
  -o "markers=gpu: needs a CUDA device" -p no:cacheprovider -q -rA \
  --junitxml "$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.txt"
tests_rc=${PIPESTATUS[0]}

"$PY" bench/loop_speed.py --device "$DEVICE" --epochs "${EPOCHS:-20}" --repeats "${REPEATS:-3}" \
  ${COMPILE:+--compile} --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.txt"
bench_rc=${PIPESTATUS[0]}

"$PY" - "$OUT" <<'EOF'
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

out = Path(sys.argv[1])
gpu = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else "?"
print(f"\n## GPU check: {gpu or 'no GPU'}, torch {torch.__version__}\n")
print("| check | result | detail |")
print("| --- | --- | --- |")
tests = out / "gpu_tests.xml"
if tests.exists():
    for case in ET.parse(tests).getroot().iter("testcase"):
        outcome, detail = "passed", f"{float(case.get('time', 0)):.1f} s"
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
                detail = (found.get("message") or "").splitlines()[0][:90] if \
                    found.get("message") else detail
        print(f"| test {case.get('name')} | {outcome} | {detail} |")
else:
    print("| GPU tests | did not run | |")
bench = out / "bench_cuda.json"
if bench.exists():
    for row in json.loads(bench.read_text()):
        if row["samples_per_s"] is None:  # epochs interleaved with the hand loop's
            ratio, label = (row["vs_same_work"], "same work") if row["vs_same_work"] \
                else (row["vs_hand"], "hand")
            print(f"| bench {row['variant']} | {ratio:.3f}x vs {label} | "
                  f"per-epoch ratios {row['min']:.3f}-{row['max']:.3f} |")
            continue
        same = f", {row['vs_same_work']:.3f}x vs same work" if row["vs_same_work"] else ""
        print(f"| bench {row['variant']} | {row['samples_per_s']:.0f} samples/s | "
              f"range {row['min']:.0f}-{row['max']:.0f}, {row['vs_hand']:.3f}x vs hand{same} |")
else:
    print("| benchmark | did not run | |")
EOF

exit $(( tests_rc != 0 || bench_rc != 0 ))
