#!/bin/sh
# Refuse an unsupported Python before anything is installed, and say what to install.
py="${1:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: '$py' was not found. Install Python 3.10 or newer (https://www.python.org/downloads/)," >&2
  echo "       or point the set-up at one: make lab PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  echo "error: this course needs Python 3.10 or newer; '$py' is $("$py" -c 'import sys; print(sys.version.split()[0])' 2>&1)." >&2
  echo "       Install Python 3.10+ (https://www.python.org/downloads/, or 'conda env create -f environment.yml')," >&2
  echo "       then run: make lab PYTHON=python3.11" >&2
  exit 1
fi
if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "error: '$py' lacks the venv module. On Debian/Ubuntu: sudo apt-get install python3-venv" >&2
  exit 1
fi
