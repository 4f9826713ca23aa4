# Every target sets up its own virtual environment first (Python 3.11 + the
# lock file), so each command works on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow demo bench clean

venv: $(STAMP)

$(STAMP): setup.py constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "rembert-mtf needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24,<26"
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m pip check
	@touch $(STAMP)

test: venv
	$(PY) -m pytest -q -m "not slow" --durations=25 tests

test-slow: venv
	$(PY) -m pytest -q -m slow tests

demo: venv
	$(VENV)/bin/rembert-mtf demo --model_dir=$${MODEL_DIR:-/tmp/rembert_mtf_demo}

# Benchmarks print figures and write bench/results/*.md|json (~15 minutes;
# run on a quiet machine: they alternate contenders but share its cores).
bench: venv
	PYTHONPATH=. $(PY) -m bench.throughput
	PYTHONPATH=. $(PY) -m bench.input_pipeline
	PYTHONPATH=. $(PY) -m bench.profile_step
	PYTHONPATH=. $(PY) -m bench.full_size

clean:
	rm -rf $(VENV) build *.egg-info
