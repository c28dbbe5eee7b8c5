# The two commands: `make demo` (the main job on the embedded stack) and `make test`.
# Each creates the virtualenv and installs on first use (torch's CPU wheel first), and skips that
# on later runs until pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH ?= torch==2.13.0

.PHONY: demo test lint install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)   # first: the CPU wheel, not GBs of CUDA
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/trendmine demo $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	cd $(CURDIR) && $(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q $(ARGS)

clean-venv:
	rm -rf $(VENV)
