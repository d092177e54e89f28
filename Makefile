# Two commands do all set-up on a fresh machine with Python 3.11:
#   make repro   create .venv if missing, install, run the DVC pipeline on the embedded default
#   make test    create/install likewise, run the test suite
# Re-running installs nothing unless requirements.txt changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
DVC    := $(VENV)/bin/dvc
STAMP  := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install repro test study bench clean-venv

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

repro: $(STAMP)
	$(DVC) repro

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/render_speed.py --quick
	$(PY) benchmarks/fit_speed.py --quick
	$(PY) benchmarks/fit3d_speed.py --quick
	$(PY) benchmarks/synth_speed.py --quick
	$(PY) benchmarks/segment_speed.py --quick
	$(PY) benchmarks/gan_speed.py --quick
	$(PY) benchmarks/fit_quality.py

clean-venv:
	rm -rf $(VENV)

study: $(STAMP)
	$(PY) scripts/loss_study.py all
