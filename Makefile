# The CIFAR-10 notebook series. `make help` lists the targets.
# Every target creates .venv and installs the project on first use (idempotent).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= full
# Keep TensorFlow's C++ start-up chatter out of notebooks and logs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup run test test-fast lint test-unit test-notebooks bench doctor lab worker clean mutants

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# A `python3` kernel inside the venv, so papermill, nbval and JupyterLab run the
	@# notebooks with this environment (and TensorFlow's C++ start-up messages stay in
	@# the terminal, not in red under every notebook's imports).
	$(BIN)/python -m cifar_utils.series --install-kernel >/dev/null
	@touch $@

setup: $(STAMP)  ## Create .venv and install the project (done by every target on first use)

run: $(STAMP)  ## Run the whole notebook series (PROFILE=full rewrites notebooks/ and figures/; PROFILE=quick writes build/quick/; ARGS="--only 02" etc.)
	$(BIN)/python -m cifar_utils.series --profile $(PROFILE) $(ARGS)

test: lint test-unit test-notebooks  ## Lint, unit tests, and the notebooks in the quick profile checked by nbval

lint: $(STAMP)  ## ruff on .py and .ipynb files
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: $(STAMP)  ## The edit-test loop: lint, then the tests not marked slow, notebooks or browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow and not notebooks and not browser"

test-unit: $(STAMP)  ## The pytest suite (tests that need the real archive skip without CIFAR10_PATH)
	$(BIN)/python -m pytest

# The notebook check: quick-profile copies of the committed notebooks with their parameters
# injected and their stored (full-run) outputs kept, executed once by nbval, which compares
# only the cells tagged nbval-check-output (stderr never; see tests/nbval_plugin.py).
# Without a real archive in $CIFAR10_PATH the notebooks read a small synthetic one. The data
# cache and choose_setup's measurements go to build/nbval/, never to the user's data/.
NBVAL_DIR := build/nbval
SYNTHETIC_ARCHIVE := build/synthetic/cifar-10-python.tar.gz

$(SYNTHETIC_ARCHIVE): tests/synthetic.py
	$(BIN)/python tests/synthetic.py --n-per-batch 2000 --n-test 1000 $@

test-notebooks: $(STAMP)  ## Execute every notebook in the quick profile; nbval compares the stable outputs
	@if ! ls notebooks/[0-9][0-9]_*.ipynb >/dev/null 2>&1; then \
		echo "test-notebooks: no notebooks/NN_*.ipynb yet, nothing to check"; exit 0; \
	fi; \
	set -e; \
	if [ -n "$$CIFAR10_PATH" ] && [ -e "$$CIFAR10_PATH" ]; then \
		echo "test-notebooks: real CIFAR-10 data from CIFAR10_PATH=$$CIFAR10_PATH"; \
	else \
		echo "test-notebooks: CIFAR10_PATH is $${CIFAR10_PATH:-unset}$${CIFAR10_PATH:+ (no such file)}:" \
			"the notebooks run on a synthetic archive ($(SYNTHETIC_ARCHIVE)), real-data checks are skipped"; \
		$(MAKE) --no-print-directory $(SYNTHETIC_ARCHIVE); \
		CIFAR10_PATH="$(CURDIR)/$(SYNTHETIC_ARCHIVE)"; export CIFAR10_PATH; \
	fi; \
	rm -rf $(NBVAL_DIR); \
	CIFAR10_DATA_DIR="$(CURDIR)/$(NBVAL_DIR)/data"; export CIFAR10_DATA_DIR; \
	CIFAR10_SETUP_CACHE="$(CURDIR)/$(NBVAL_DIR)/training_setups.json"; export CIFAR10_SETUP_CACHE; \
	$(BIN)/python -m cifar_utils.series --prepare-only --profile quick --output-dir $(NBVAL_DIR); \
	$(BIN)/python -m pytest -p tests.nbval_plugin --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900 \
		$(NBVAL_DIR)/[0-9][0-9]_*.ipynb

mutants: $(STAMP)  ## Mutation testing with mutmut (modules and tests in pyproject's [tool.mutmut]); not part of make test
	$(BIN)/python -m pip install --quiet "mutmut>=3.8,<4"
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

bench: $(STAMP)  ## Benchmark this machine: matmul peak, images/s and FLOP/s per model, load time, minutes per notebook run (ARGS="--quick", "--json bench.json")
	$(BIN)/python -m cifar_utils.bench $(ARGS)

doctor: $(STAMP)  ## Check this machine: versions, devices, precision, Graphviz, dataset, disk
	$(BIN)/python -m cifar_utils.doctor

# One worker of a run of 03 spread over several machines: run it on every machine, with the
# same HOSTS and the machine's own INDEX. Worker 0 is the chief: it keeps the model and the
# backups and, in the full profile, rewrites notebooks/03; the others write their executed
# copy of the notebook to build/worker<INDEX>/ and leave their checkout alone. See the README.
worker:  ## One worker of 03 trained on several machines: HOSTS=host1:12345,host2:12345 INDEX=0 (ARGS="-p EPOCHS 2" etc.)
	@if [ -z "$(HOSTS)" ] || [ -z "$(INDEX)" ]; then \
		echo "usage: make worker HOSTS=host1:12345,host2:12345 INDEX=0 (1 on the second machine)"; \
		exit 2; \
	fi
	@$(MAKE) --no-print-directory $(STAMP)
	$(BIN)/python -m cifar_utils.cluster --hosts $(HOSTS) --index $(INDEX) -- \
		$(BIN)/python -m cifar_utils.series --profile $(PROFILE) --only 03 \
		$(if $(filter-out 0,$(INDEX)),--output-dir build/worker$(INDEX)) $(ARGS)

# One kernel: the venv's own "Python 3" (installed with the project), which the notebooks
# select. The committed notebooks are trusted, so their styled tables show.
lab: $(STAMP)  ## JupyterLab on notebooks/, with the project's kernel and trusted notebooks
	$(BIN)/jupyter trust notebooks/[0-9][0-9]_*.ipynb
	$(BIN)/jupyter lab notebooks/

clean:  ## Remove build outputs (keeps .venv, data/ and models/)
	rm -rf build .pytest_cache .ruff_cache
