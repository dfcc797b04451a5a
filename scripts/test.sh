#!/usr/bin/env bash
# mmrepro's whole test suite, as CI runs it:
#   1. the notebooks and the exported package are in sync (nbdev-export / nbdev-clean change nothing);
#   2. nbdev-test runs every notebook (cells flagged slow or gpu are skipped);
#   3. every parameterised notebook runs under papermill with a -p value, and the value is shown to reach it;
#   4. the package installs into a clean virtual environment and imports.
# Real-data tests read MMREPRO_SHARED_DATA (.ci/run sets it to ../shared/data) and say when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
export MMREPRO_CACHE="${MMREPRO_CACHE:-$PWD/.cache/mmrepro}"
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo; echo "mmrepro tests: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
t0=$SECONDS

echo "== 1. notebooks and package in sync"
snap() { find nbs mmrepro -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha1sum; sha1sum pyproject.toml; }
before="$(snap)"
nbdev-export >/dev/null
nbdev-clean >/dev/null
after="$(snap)"
if [ "$before" == "$after" ]; then ok "nbdev-export and nbdev-clean change nothing"
else fail "nbdev-export / nbdev-clean changed these files (run them and commit):"; diff <(echo "$before") <(echo "$after") || true; fi

echo "== 2. nbdev-test (all notebooks)"
if nbdev-test --n-workers "${MMREPRO_TEST_WORKERS:-2}" --timing; then ok "nbdev-test: $(ls nbs/*.ipynb | wc -l) notebooks"; else fail "nbdev-test"; fi

echo "== 3. papermill parameters reach the notebooks"
if python scripts/check_papermill.py; then ok "papermill -p reaches every parameterised notebook"; else fail "papermill parameters"; fi

echo "== 4. clean install and import"
clean="$(mktemp -d)"
if "${PYTHON:-python3}" -m venv "$clean/venv" \
   && "$clean/venv/bin/python" -m pip install -q . 2> >(grep -v 'is ignored: it is neither' >&2) \
   && (cd "$clean" && venv/bin/python -c "import mmrepro, mmrepro.experiment, mmrepro.cli; print('imported mmrepro', mmrepro.__version__)" && venv/bin/mmrepro --help >/dev/null); then
  ok "pip install . into a clean environment, import, mmrepro --help"
else fail "clean install"; fi
rm -rf "$clean" build mmrepro.egg-info 2>/dev/null || true
echo "total time: $((SECONDS - t0)) s"
finish
