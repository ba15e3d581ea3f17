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

# Finetunes a tiny T5 on the embedded data, then scores it on the held-out suite's embedded
# fixtures (MMLU, BBH, TyDiQA, MGSM in their release layouts) and prints the paper's Table 5 row.
demo: $(STAMP)
	$(PY) -m flanx.train --gin_file=gin/runs/demo.gin
	FLANX_DATA_DIR=tasks/evals/fixtures $(PY) -m flanx.eval --gin_file=gin/runs/eval.gin \
	  --gin.CHECKPOINT_PATH="'runs/demo'" --gin.EVAL_NUM_EXAMPLES=4 \
	  "--gin.EVAL_FEATURE_LENGTHS={'inputs': 1024, 'targets': 32}"

# Lints first (ruff.toml): a finding fails `make test` before the suite spends its time.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --durations=15 tests
