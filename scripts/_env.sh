# Sourced by the other scripts: create or reuse the local virtual environment and install mmrepro into it.
# MMREPRO_VENV picks another folder (default .venv). Re-installs only when pyproject.toml or setup.py changed.
set -euo pipefail
VENV="${MMREPRO_VENV:-.venv}"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "mmrepro needs Python >= 3.10, found " + sys.version' 
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
want="$(cat pyproject.toml setup.py | sha1sum | cut -c1-40)"
stamp="$VENV/.mmrepro-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing mmrepro and its dependencies into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
  "$VENV/bin/python" -m pip install -q -e ".[dev]" 2> >(grep -v 'is ignored: it is neither' >&2)
  echo "$want" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning}"
