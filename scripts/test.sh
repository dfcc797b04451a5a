#!/usr/bin/env bash
# mmrepro's whole test suite, as CI runs it:
#   1. the notebooks and the exported package are in sync (nbdev-export / nbdev-clean change nothing);
#   2. nbdev-test runs every notebook without papermill parameters (cells flagged slow or gpu are skipped);
#   3. every parameterised notebook (the paper notebooks and the demo) runs under papermill with its defaults and
#      other seeds, and the values are shown to reach it; a misspelt parameter is shown to be refused;
#   4. the package installs into a clean virtual environment and imports (run in the background from the start);
#   5. the GPU check (benchmarks/gpu_check.py) runs at tiny size on the CPU, every method through the same path as on a GPU
#      (run in the background from the end of step 1; its results go to the temporary folder).
# Notebooks run two at a time with one torch thread each (two cores, no oversubscription). Figures and run folders of
# the test runs go to a temporary folder (MMREPRO_OUTPUT), never over the committed figures.
# Real-data tests read MMREPRO_SHARED_DATA (.ci/run sets it to ../shared/data) and say when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
export MMREPRO_CACHE="${MMREPRO_CACHE:-$PWD/.cache/mmrepro}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
out="$(mktemp -d)"; export MMREPRO_OUTPUT="$out"
trap 'rm -rf "$out" "${clean:-}"' EXIT
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo; echo "mmrepro tests: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
t0=$SECONDS
params_re="$(python scripts/check_papermill.py --list-re)"   # the parameterised notebooks: run under papermill in step 3

# step 4 runs from the start, beside the others: pip mostly waits on the disk, and it would otherwise add minutes
clean="$(mktemp -d)"
( "${PYTHON:-python3}" -m venv "$clean/venv" \
  && "$clean/venv/bin/python" -m pip install -q . 2> >(grep -v 'is ignored: it is neither' >&2) \
  && (cd "$clean" && venv/bin/python -c "import mmrepro, mmrepro.experiment, mmrepro.cli; print('imported mmrepro', mmrepro.__version__)" && venv/bin/mmrepro --help >/dev/null) ) \
  > "$clean/log" 2>&1 &
install_pid=$!

echo "== 1. notebooks and package in sync"
snap() { find nbs mmrepro -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha1sum; sha1sum pyproject.toml; }
before="$(snap)"
nbdev-export >/dev/null
nbdev-clean >/dev/null
after="$(snap)"
if [ "$before" == "$after" ]; then ok "nbdev-export and nbdev-clean change nothing"
else fail "nbdev-export / nbdev-clean changed these files (run them and commit):"; diff <(echo "$before") <(echo "$after") || true; fi

# step 5 runs beside steps 2-4 (after step 1, which may rewrite the modules it imports): one torch thread, ~30 s of CPU
mkdir -p "$out/gpu_check"
python benchmarks/gpu_check.py --size tiny --device cpu --out "$out/gpu_check/results" > "$out/gpu_check/log" 2>&1 &
gpu_check_pid=$!

echo "== 2. nbdev-test (the notebooks without parameters)"
if nbdev-test --n-workers "${MMREPRO_TEST_WORKERS:-2}" --timing --skip-file-re "$params_re"; then ok "nbdev-test: $(ls nbs/*.ipynb | grep -Ev "$params_re" | wc -l) notebooks"; else fail "nbdev-test"; fi
echo "   ($((SECONDS - t0)) s so far)"

echo "== 3. papermill: the parameterised notebooks with their defaults, other seeds"
if python scripts/check_papermill.py --jobs "${MMREPRO_TEST_WORKERS:-2}"; then ok "papermill runs every parameterised notebook, and its -p values reach it"; else fail "papermill parameters"; fi
echo "   ($((SECONDS - t0)) s so far)"

echo "== 4. clean install and import (started with step 1)"
if wait "$install_pid"; then ok "pip install . into a clean environment, import, mmrepro --help"
else fail "clean install:"; cat "$clean/log"; fi
rm -rf "$clean" build mmrepro.egg-info 2>/dev/null || true

echo "== 5. the GPU check at tiny size on the CPU (started after step 1)"
if wait "$gpu_check_pid" && [ -s "$out/gpu_check/results/gpu_check_cpu_tiny.json" ] && grep -q '^== gpu_check headline' "$out/gpu_check/log"
then ok "benchmarks/gpu_check.py --size tiny: $(grep -c '^\[' "$out/gpu_check/log") runs, results written, headline printed"
else fail "benchmarks/gpu_check.py --size tiny:"; cat "$out/gpu_check/log"; fi
echo "total time: $((SECONDS - t0)) s"
finish
