# skymatch: two commands do everything.
#   make demo   build the synthetic demo mosaic and run the main job on it
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,dask]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/skymatch demo --outdir $(DEMO)

# pytest exits 5 when it collected no test: that is a failure too.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no test ran" >&2; exit 1; fi; exit $$rc

# make bench [BENCH_ARGS=--quick]; peers: SKYMATCH_PEER_PYTHON (drizzlepac, stsci.skypac), Montage on PATH
bench: $(VENV)/.installed-test
	SKYMATCH_PEER_PYTHON="$${SKYMATCH_PEER_PYTHON:-$(wildcard /work/peers/venv/bin/python)}" \
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) build src/*.egg-info
