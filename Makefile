# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow test-compat bench snapshot clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(VENV)/bin/factory-ai demo --out runs/demo

test: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q

test-compat:
	bash scripts/compat_test.sh

test-slow: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) -m pytest -q -m slow

bench: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(VENV)/bin/factory-ai bench all --json-dir benchmarks/results

snapshot: venv
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(VENV)/bin/factory-ai snapshot --out runs/snapshot

clean:
	rm -rf $(VENV) build *.egg-info runs
