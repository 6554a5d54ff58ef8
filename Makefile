# skymatch: two commands do everything.
#   make demo   the notebook's whole path on synthetic data: misaligned visits with DRZ
#               products -> align -> tweakback -> compare (installs the align extra)
#   make test   run the test suite (both cores; tests marked slow: make test-slow; CI runs both)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,dask]"
	touch $@ $(VENV)/.installed

# What alignment needs (tweakwcs, photutils): the optional extra `align`.
$(VENV)/.installed-align: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[align]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed-align
	$(BIN)/skymatch demo --outdir $(DEMO)

# pytest exits 5 when it collected no test: that is a failure too.  The suite runs on
# every core (pytest-xdist); the full-size, benchmark-like tests are marked slow and run
# with `make test-slow` (.ci/run runs both).
# One BLAS thread per test worker: the workers already fill the cores, and OpenBLAS's
# threaded syrk can deadlock (https://github.com/OpenMathLib/OpenBLAS/issues/5620; seen
# once here in test_reference, in a plane-map fit's A.T @ A).
test: $(VENV)/.installed-test
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n auto -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no test ran" >&2; exit 1; fi; exit $$rc

test-slow: $(VENV)/.installed-test
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n auto -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-slow: no test ran" >&2; exit 1; fi; exit $$rc

# make bench [BENCH_ARGS=--quick]; peers: SKYMATCH_PEER_PYTHON (drizzlepac, stsci.skypac), Montage on PATH
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) build src/*.egg-info
