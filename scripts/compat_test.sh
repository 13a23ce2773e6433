#!/usr/bin/env bash
# Compat tier: the core unit tests with what ROS 2 Jazzy users have (numpy 1.26, OpenCV 4.6,
# scipy 1.11, ...; see requirements-compat.txt), in a separate venv .venv-compat.
#   scripts/compat_test.sh                # build the venv on first use, run test/unit + test/compat
#   scripts/compat_test.sh -k convert     # extra pytest arguments pass through
# Python 3.10+ (PYTHON=python3.10 to test the oldest supported). The default pytest markers of
# setup.cfg apply (no slow, ros or moveit tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${COMPAT_VENV:-.venv-compat}"
STAMP="$VENV/.installed"

if [ ! -f "$STAMP" ] || [ requirements-compat.txt -nt "$STAMP" ] || [ requirements-ros.txt -nt "$STAMP" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-compat.txt
  touch "$STAMP"
fi

# The package from the work tree (no install: the main venv's editable install stays untouched).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export FACTORY_AI_COMPAT=1
export MUJOCO_GL="${MUJOCO_GL:-egl}"
"$VENV/bin/python" - <<'PY'
import cv2, numpy, scipy, sys
print(f"compat tier: python {sys.version.split()[0]}, numpy {numpy.__version__}, "
      f"opencv {cv2.__version__}, scipy {scipy.__version__}")
PY
exec "$VENV/bin/python" -m pytest -q test/unit test/compat "$@"
