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
	$(PY) -m pytest -q -m "not slow" tests

test-slow: venv
	$(PY) -m pytest -q -m slow tests

demo: venv
	$(VENV)/bin/rembert-mtf demo --model_dir=$${MODEL_DIR:-/tmp/rembert_mtf_demo}

clean:
	rm -rf $(VENV) build *.egg-info
