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

.PHONY: setup data reproduce report test lab strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Fashion-MNIST: data/ first, then Debian's dataset-fashion-mnist (installed here when
# apt is usable as root), then torchvision's download; the loader's error names them all.
data: $(STAMP)
	@if [ ! -f data/FashionMNIST/raw/train-images-idx3-ubyte ] \
	    && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
	    && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's dataset-fashion-mnist ..."; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "apt could not install dataset-fashion-mnist; trying torchvision's download"; \
	fi
	$(PY) -m unlearnlab.data fashion_mnist

reproduce: data
	$(PY) -m unlearnlab.run --preset $(PRESET) --jobs $(JOBS)
	$(MAKE) report PRESET=$(PRESET)

# RESULTS.md and the README's headline, written from runs/<preset>/ (never typed)
report: $(STAMP)
	$(PY) -m unlearnlab.report --preset $(PRESET)

test: $(STAMP)
	$(PY) -m pytest

lab: $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (unlearnlab)"
	$(VENV)/bin/jupyter lab notebooks/

# Strip outputs and run metadata from the notebooks before committing (cell ids kept).
strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-id --extra-keys "metadata.papermill cell.metadata.papermill cell.metadata.execution" notebooks/*.ipynb

clean:
	rm -rf runs
