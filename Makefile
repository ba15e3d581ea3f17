# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.flanx-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test install clean-demo

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,hf]"
	touch $(STAMP)

# Finetunes a tiny T5 on the embedded data and prints what it did.
demo: $(STAMP)
	$(PY) -m flanx.train --gin_file=gin/runs/demo.gin

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15 tests
