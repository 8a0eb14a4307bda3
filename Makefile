# Every target is self-sufficient on a fresh clone: it creates .venv and installs what
# it needs. `make reproduce` runs every notebook at the cpu preset; `make test` runs
# the test suite (which needs no downloaded data).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= cpu
# notebooks run at once by `make reproduce` (each in its own process, cores shared out);
# 1 here: on this 2-core VM two single-thread workers were no faster than one (README)
JOBS ?= 1

.PHONY: setup git-filter data reproduce seeds tune report fingerprint test lab strip clean

setup: $(STAMP)

# What `make strip` and the git filter remove from notebooks: outputs, execution counts,
# papermill's records and what JupyterLab writes on opening (language_info); cell ids stay.
STRIP_ARGS := --keep-id --extra-keys "metadata.papermill metadata.language_info cell.metadata.papermill cell.metadata.execution"

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

# A git filter (this clone's .git/config; .gitattributes names it) strips what `make strip`
# strips whenever a notebook is staged, so opening notebooks in JupyterLab leaves the repo
# clean. Nothing to do outside a git checkout.
git-filter:
	@if [ -d .git ]; then \
	  git config filter.nbstripout.clean '"$(abspath $(PY))" -m nbstripout $(STRIP_ARGS)' \
	  && git config filter.nbstripout.smudge cat \
	  && git config diff.ipynb.textconv '"$(abspath $(PY))" -m nbstripout -t' \
	  && echo "git filter installed: notebooks/*.ipynb are stripped when staged (nbstripout $(subst ",,$(STRIP_ARGS)))"; \
	fi

# Fashion-MNIST: data/ first, then Debian's dataset-fashion-mnist (installed here when
# apt is usable as root), then torchvision's download; the loader's error names them all.
data: $(STAMP)
	@if [ ! -f data/FashionMNIST/raw/train-images-idx3-ubyte ] \
	    && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
	    && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Fashion-MNIST not found: installing Debian's dataset-fashion-mnist with apt-get"; \
	  echo "(about 30 MB; gzipped IDX files into /usr/share/datasets/fashion-mnist) ..."; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "apt could not install dataset-fashion-mnist; trying torchvision's download"; \
	fi
	$(PY) -m unlearnlab.data fashion_mnist

reproduce: data
	$(PY) -m unlearnlab.run --preset $(PRESET) --jobs $(JOBS)
	$(MAKE) report PRESET=$(PRESET)

# Every paper notebook (01-04) once per seed, as a grid (runs/<preset>/<notebook>/<key>/),
# then RESULTS.md's "Verdicts over seeds": a claim holds only where every seed agrees.
# Not part of `make reproduce` (about three times its notebooks' time); finished seeds
# are skipped when it is run again.
SEEDS ?= 0,1,2
seeds: data
	$(PY) -m unlearnlab.run --preset $(PRESET) 01 02 03 04 --grid SEED=$(SEEDS) --jobs $(JOBS)
	$(MAKE) report PRESET=$(PRESET)

# Equal-budget tuning: every method gets TRIALS optuna trials per leaderboard scenario on
# validation requests disjoint from the reported ones; writes tuning/<preset>.json, which
# notebook 05 reads for its "(tuned)" rows; then l2ul on notebook 03's memorising original
# (its "l2ul (tuned)" row). Not part of `make reproduce` (README: time); finished trials
# are kept in runs/cache/tuning/ and a re-run resumes.
TRIALS ?= 10
tune: data
	$(PY) -m unlearnlab.tuning --preset $(PRESET) --trials $(TRIALS)
	$(PY) -m unlearnlab.tuning --preset $(PRESET) --trials $(TRIALS) --memorising \
		--method l2ul --scenario "128 instances"

# RESULTS.md and the README's headline, written from runs/<preset>/ (never typed)
report: $(STAMP)
	$(PY) -m unlearnlab.report --preset $(PRESET)

# The smoke results' fingerprint that `make test` checks (after a change of results)
fingerprint: $(STAMP)
	$(PY) -m unlearnlab.run --preset smoke
	$(PY) -m unlearnlab.report --fingerprint --preset smoke

test: $(STAMP)
	$(PY) -m pytest

# JupyterLab at the repository root (runs/, figures/ and RESULTS.md in reach), showing
# notebooks/. The kernel's display name is the one the notebooks carry, so Lab keeps it.
lab: $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --FileContentsManager.preferred_dir=notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root,)

# Strip outputs and run metadata from the notebooks before committing (cell ids kept).
strip: $(STAMP)
	$(VENV)/bin/nbstripout $(STRIP_ARGS) notebooks/*.ipynb

clean:
	rm -rf runs
