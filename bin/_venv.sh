# Shared by bin/run and bin/test: make .venv with Python 3.11 and install the pinned packages.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    PY=$(command -v python3.11 || command -v python3 || true)
    if [ -z "$PY" ]; then
        echo "Python 3.11 is needed: apt-get install python3 python3-venv" >&2
        exit 1
    fi
    "$PY" -m venv .venv || {
        echo "Creating the virtual environment failed: apt-get install python3-venv" >&2
        exit 1
    }
fi
echo "Installing pinned packages into .venv (constraints.txt) ..."
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
