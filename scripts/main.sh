#!/usr/bin/env bash
# mmrepro's main job: run the demo notebook (joint training on the embedded synthetic data) under papermill.
# Figures go to figures/, the executed notebook and the run folder to runs/demo/.
# Extra arguments are passed to papermill, e.g.  bash scripts/main.sh -p epochs 20 -p device cuda
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
mkdir -p runs/demo
papermill nbs/09_demo.ipynb runs/demo/09_demo.ipynb --cwd nbs -p out_dir ../runs/demo/run "$@"
echo "executed notebook: runs/demo/09_demo.ipynb; figures: figures/"
