# The CIFAR-10 notebook series. `make help` lists the targets.
# Every target creates .venv and installs the project on first use (idempotent).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= full
# Keep TensorFlow's C++ start-up chatter out of notebooks and logs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup run test lint test-unit test-notebooks bench lab clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# A `python3` kernel inside the venv, so papermill, nbval and JupyterLab run the
	@# notebooks with this environment.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@

setup: $(STAMP)  ## Create .venv and install the project (done by every target on first use)

run: $(STAMP)  ## Run the whole notebook series (PROFILE=full rewrites notebooks/ and figures/; PROFILE=quick writes build/quick/)
	$(BIN)/python -m cifar_utils.series --profile $(PROFILE)

test: lint test-unit test-notebooks  ## Lint, unit tests, and the notebooks in the quick profile checked by nbval

lint: $(STAMP)  ## ruff on .py and .ipynb files
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-unit: $(STAMP)  ## The pytest suite (tests that need the real archive skip without CIFAR10_PATH)
	$(BIN)/python -m pytest

test-notebooks: $(STAMP)  ## Execute every notebook in the quick profile; nbval compares the stable outputs
	@echo "(notebook checks: filled in by the series runner task)"

bench: $(STAMP)  ## Print load-time (and, later, training) benchmarks for this machine
	$(BIN)/python -m cifar_utils.bench

lab: $(STAMP)  ## JupyterLab on notebooks/ with this project's kernel registered
	$(BIN)/python -m ipykernel install --user --name cifar10-notebook-series \
		--display-name "Python (CIFAR-10 series)" >/dev/null
	$(BIN)/jupyter lab notebooks/

clean:  ## Remove build outputs (keeps .venv, data/ and models/)
	rm -rf build .pytest_cache .ruff_cache
