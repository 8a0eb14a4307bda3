# Every target is self-sufficient on a fresh clone: it creates .venv and installs what
# it needs. `make` alone prints the targets with their cost (help). Lines starting with
# `##` under a target name are that help; the costs are measured on two CPU cores.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= cpu
# notebooks run at once by `make reproduce` (each in its own process, cores shared out);
# 1 by default: on two cores two single-thread workers measured no faster than one
JOBS ?= 1

.PHONY: help setup git-filter data reproduce seeds tune privacy report smoke-reference test lab strip clean

help:  ## this list (the default target)
	@echo "unlearnlab: make TARGET [PRESET=smoke|cpu|deep|gpu|paper]  (PRESET defaults to cpu)"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP)  ## create .venv and install everything (about 6 GB; 2-5 min)

$(STAMP): pyproject.toml
	@echo "Creating $(VENV) and installing unlearnlab with torch, torchvision, captum, jupyterlab,"
	@echo "papermill and nbval: about 6 GB to download on the first run (a few minutes); pip's"
	@echo "cache makes later installs faster."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	@$(MAKE) --no-print-directory git-filter
	touch $(STAMP)
	@echo "Installed: $$(du -sh $(VENV) | cut -f1) in $(VENV)."

# A git filter and diff text conversion (this clone's .git/config; .gitattributes names
# them) strip notebooks as unlearnlab.lab does (outputs, counts, run metadata; cell ids
# kept), so what is staged and what `git diff` shows agree. Nothing outside a checkout.
STRIP := "$(abspath $(PY))" -m unlearnlab.lab strip
git-filter:
	@if [ -d .git ]; then \
	  git config filter.nbstripout.clean '$(STRIP)' \
	  && git config filter.nbstripout.smudge cat \
	  && git config filter.nbstripout.required true \
	  && git config diff.ipynb.textconv '$(STRIP) --textconv' \
	  && echo "git filter installed: notebooks/*.ipynb are stripped when staged and in git diff (unlearnlab.lab)"; \
	fi

# Fashion-MNIST: data/ first, then Debian's dataset-fashion-mnist (installed here when
# apt is usable as root), then torchvision's download; the loader's error names them all.
data: $(STAMP)  ## Fashion-MNIST into place (Debian's package as root; about 30 MB)
	@if [ ! -f data/FashionMNIST/raw/train-images-idx3-ubyte ] \
	    && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
	    && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist with apt-get"; \
	  echo "(about 30 MB; gzipped IDX files into /usr/share/datasets/fashion-mnist) ..."; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "apt could not install dataset-fashion-mnist; trying torchvision's download"; \
	fi
	$(PY) -m unlearnlab.data fashion_mnist

# TUNED=1 adds the leaderboard's tuned rows (after `make tune`; notebook 05 reads
# UNLEARNLAB_TUNED when its TUNED parameter is left at None).
TUNED ?= 0
reproduce: data  ## every notebook at PRESET, then RESULTS.md and the figures (cpu: about 44 min; TUNED=1: tuned rows)
	UNLEARNLAB_TUNED=$(TUNED) $(PY) -m unlearnlab.run --preset $(PRESET) --jobs $(JOBS)
	$(MAKE) report PRESET=$(PRESET)

# Every paper notebook (01-04) once per seed, as a grid (runs/<preset>/<notebook>/<key>/),
# then RESULTS.md's "Verdicts over seeds": a claim holds only where every seed agrees.
# Not part of `make reproduce` (about twice its notebooks' time); finished seeds are
# skipped when it is run again. The canonical run of `make reproduce` counts as seed 0
# while its notebook code is current, so SEEDS=1,2 completes three seeds after it.
SEEDS ?= 0,1,2
seeds: data  ## notebooks 01-04 once per seed in SEEDS=0,1,2 (cpu: about 40 min)
	$(PY) -m unlearnlab.run --preset $(PRESET) 01 02 03 04 --grid SEED=$(SEEDS) --jobs $(JOBS)
	$(MAKE) report PRESET=$(PRESET)

# Equal-budget tuning: every method gets TRIALS optuna trials per leaderboard scenario on
# a validation original of its own seed and requests no reported result uses; writes
# tuning/<preset>.json, whose kept settings notebook 05 adds with TUNED=True; then l2ul
# on notebook 03's memorising original with P3's objective (its "l2ul (tuned)" row).
# Not part of `make reproduce` (README: time); finished trials are kept in
# runs/cache/tuning/ and a re-run resumes. `make reproduce TUNED=1` adds the tuned rows.
TRIALS ?= 10
tune: data  ## equal-budget tuning, TRIALS=10 per method and scenario (cpu: about an hour)
	$(PY) -m unlearnlab.tuning --preset $(PRESET) --trials $(TRIALS) --p3
	$(PY) -m unlearnlab.tuning --preset $(PRESET) --trials $(TRIALS)

# Notebook 06, the privacy pool: N originals and N retrains, then every method (or
# METHODS=a,b) run once from each original and scored per example. Not part of `make
# reproduce` at cpu (75 min); every pool member and run is cached, so it resumes.
METHODS ?=
privacy: data  ## per-example privacy scores from one pool of models (notebook 06; cpu: 75 min)
	UNLEARNLAB_METHODS=$(METHODS) $(PY) -m unlearnlab.run --preset $(PRESET) 06
	$(MAKE) report PRESET=$(PRESET)

# RESULTS.md and the README's headline, written from runs/<preset>/ (never typed)
report: $(STAMP)  ## RESULTS.md and the README's generated sections from runs/PRESET (seconds)
	$(PY) -m unlearnlab.report --preset $(PRESET)

# The smoke results `make test` compares with, and each cell's tolerance: every notebook
# at smoke with 1 and with 2 torch threads, twice each, then on other CPU kernels
# (oneDNN's SSE4.1 on one thread; ATen's scalar and oneDNN's SSE4.1 on two: another CPU's
# order of sums), each from an empty cache (unlearnlab.reference). After a change of
# results; then `make reproduce`.
SMOKE_REF := $(CURDIR)/runs/smoke-reference
smoke-reference: $(STAMP)  ## re-measure the smoke results make test compares with (6 smoke runs, about 30 min)
	rm -rf $(SMOKE_REF)
	for run in 1a 2a 1b 2b; do t=$${run%?}; \
	  UNLEARNLAB_RUNS=$(SMOKE_REF)/$$run UNLEARNLAB_THREADS=$$t OMP_NUM_THREADS=$$t MKL_NUM_THREADS=$$t \
	    $(PY) -m unlearnlab.run --preset smoke || exit 1; done
	UNLEARNLAB_RUNS=$(SMOKE_REF)/sse41 ONEDNN_MAX_CPU_ISA=SSE41 UNLEARNLAB_THREADS=1 OMP_NUM_THREADS=1 \
	  MKL_NUM_THREADS=1 $(PY) -m unlearnlab.run --preset smoke
	UNLEARNLAB_RUNS=$(SMOKE_REF)/scalar ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 \
	  $(PY) -m unlearnlab.run --preset smoke
	$(PY) -m unlearnlab.reference $(SMOKE_REF)/1a/smoke $(SMOKE_REF)/2a/smoke $(SMOKE_REF)/1b/smoke \
	  $(SMOKE_REF)/2b/smoke $(SMOKE_REF)/sse41/smoke $(SMOKE_REF)/scalar/smoke \
	  --labels "1 thread" "2 threads" "1 thread" "2 threads" "1 thread, oneDNN SSE4.1 kernels" \
	  "2 threads, ATen scalar and oneDNN SSE4.1 kernels"

test: $(STAMP)  ## the test suite, smoke notebooks included (about 18 min)
	$(PY) -m pytest

# JupyterLab at the repository root (runs/, figures/ and RESULTS.md in reach), showing
# notebooks/. PRESET becomes the notebooks' default (UNLEARNLAB_PRESET; a notebook's own
# PRESET parameter still wins); notebooks/ are saved stripped (unlearnlab.lab), so
# running and saving them leaves git status clean.
lab: $(STAMP)  ## JupyterLab; make lab PRESET=smoke explores in seconds per notebook
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	UNLEARNLAB_PRESET=$(PRESET) $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	  --FileContentsManager.preferred_dir=notebooks \
	  --FileContentsManager.pre_save_hook=unlearnlab.lab.strip_before_save \
	  $(if $(filter 0,$(shell id -u)),--allow-root,)

strip: $(STAMP)  ## strip outputs and run metadata from notebooks/*.ipynb
	$(PY) -m unlearnlab.lab strip notebooks/*.ipynb

clean:  ## delete runs/ (executed notebooks, results, trained models), after asking
	@if [ -d runs ]; then \
	  echo "make clean deletes runs/ ($$(du -sh runs | cut -f1)): executed notebooks, results tables and"; \
	  echo "the cache of trained models ($$(find runs -name '*.pt' | wc -l) checkpoints; retraining them takes"; \
	  echo "tens of minutes at cpu). Committed figures, RESULTS.md and tuning/ are kept."; \
	  if [ "$(YES)" != 1 ]; then \
	    printf "Delete runs/? [y/N] "; read answer; \
	    case "$$answer" in [yY]*) ;; *) echo "kept runs/"; exit 0;; esac; \
	  fi; \
	  rm -rf runs && echo "deleted runs/"; \
	 else echo "nothing to delete: no runs/"; fi
