#!/usr/bin/env bash
# The GPU check in one command (at most 8 minutes on one H100/H200): epoch time and peak memory of every registered method
# on CREMA-D shapes, bf16 / channels_last / torch.compile on and off, host syncs per step, the reference per-sample
# DataLoader, DDP's status. Figures go to benchmarks/results/gpu_check_cuda_full.json and benchmarks/RESULTS.md; the
# headline is printed last.
#   bash benchmarks/gpu_check.sh                      # = python benchmarks/gpu_check.py --size full --device cuda
#   bash benchmarks/gpu_check.sh --budget-s 300       # gpu_check.py options go after the defaults, and win (--help lists them)
# Installs nothing when mmrepro and its dependencies import (from this checkout, through PYTHONPATH); otherwise it pip-installs
# only the missing ones, never torch (torchvision / torchaudio pinned to the installed torch, without dependencies), from
# the wheels in .whl/ when that folder exists (offline GPU machines: carry it), else from the package index. The usual GPU
# image (Python 3.12, torch/torchaudio/torchvision, pillow, numpy, tqdm) lacks soundfile (+ cffi, pycparser) and fastcore:
#   python3 -m pip download -d .whl --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
#     --platform manylinux2014_x86_64 soundfile cffi pycparser fastcore        # 1.7 MB; then carry .whl (it is git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning}"
t0=$SECONDS

echo "== environment"
date -u
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version,clocks.max.sm --format=csv || nvidia-smi || true
else echo "nvidia-smi: not found"; fi
echo "cpus: $(getconf _NPROCESSORS_ONLN)   python: $("$PY" --version 2>&1) ($(command -v "$PY"))"
"$PY" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| GPUs:', torch.cuda.device_count(),
  [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])" \
  || { echo "torch does not import with $PY: install torch first (set PYTHON=... to use another interpreter)"; exit 1; }

echo "== dependencies"
missing="$("$PY" - <<'EOF'
import importlib, re, torch
major, minor = map(int, re.match(r'(\d+)\.(\d+)', torch.__version__).groups())
pins = {'torchaudio': f'torchaudio=={major}.{minor}.*', 'torchvision': f'torchvision==0.{minor + 15}.*' if major == 2 else 'torchvision'}
for mod, pkg in [('numpy', 'numpy'), ('cffi', 'cffi'), ('pycparser', 'pycparser'), ('soundfile', 'soundfile'), ('PIL', 'pillow'),
                 ('tqdm', 'tqdm'), ('fastcore', 'fastcore'), ('torchaudio', pins['torchaudio']), ('torchvision', pins['torchvision'])]:
    try: importlib.import_module(mod)
    except Exception: print(pkg)
EOF
)"
if [ -n "$missing" ]; then
  src=(); [ -d .whl ] && src=(--no-index --find-links .whl)
  echo "missing: $(echo $missing); installing them from ${src[*]:-the package index}"
  plain="$(echo "$missing" | grep -v '^torch' || true)"; pinned="$(echo "$missing" | grep '^torch' || true)"
  { [ -z "$plain" ] || "$PY" -m pip install -q "${src[@]}" $plain; } && { [ -z "$pinned" ] || "$PY" -m pip install -q --no-deps "${src[@]}" $pinned; } \
    || { echo "pip could not install $(echo $missing) (offline? carry their wheels in .whl/, see the top of this script)"; exit 1; }
fi
"$PY" -c "import mmrepro, mmrepro.methods, soundfile, PIL, tqdm, fastcore, torchaudio, torchvision; print('mmrepro', mmrepro.__version__, 'from', mmrepro.__file__)"
echo "   ($((SECONDS - t0)) s so far)"

echo "== gpu_check.py"
exec "$PY" benchmarks/gpu_check.py --size full --device cuda "$@"
