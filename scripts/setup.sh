#!/usr/bin/env bash
# Set up automl in ./.venv: the right torch build first, then automl itself.
#   scripts/setup.sh         automl and its runtime dependencies
#   scripts/setup.sh --dev   also the test tools (pytest, hypothesis, ruff)
# Environment:
#   PYTHON=python3.11              the interpreter to build the venv with (default: python3)
#   AUTOML_TORCH="torch==2.13.0"   the torch requirement installed first
#   AUTOML_TORCH_INDEX=URL         a PyTorch wheel index for that install, e.g. a CUDA or CPU
#                                  build index from pytorch.org (see README, "GPU")
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
python="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)
torch_req="${AUTOML_TORCH:-torch==2.13.0}"
# torch goes first, pinned: an open range with no torch installed resolves to a multi-GB CUDA
# build on Linux. With a build already installed, automl's own `torch>=2.3` adds nothing.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if [[ -n "${AUTOML_TORCH_INDEX:-}" ]]; then
    "${pip[@]}" install -q "$torch_req" --index-url "$AUTOML_TORCH_INDEX"
  else
    "${pip[@]}" install -q "$torch_req"
  fi
fi
"${pip[@]}" install -q -e ".${extras}"
.venv/bin/python -c "import torch, automl; print(f'automl {automl.__version__} ready; torch ' \
  f'{torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
