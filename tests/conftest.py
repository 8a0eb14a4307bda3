"""Shared fixtures. The tests run on the smoke preset (digits, tiny CNN) and write
nothing into the repository: runs and the cache go to a temporary folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before unlearnlab is imported anywhere: quiet progress bars, a private runs folder,
# the CPU unless UNLEARNLAB_DEVICE names another device (UNLEARNLAB_DEVICE=cuda runs the
# suite on a GPU; the smoke reference and its tolerances are measured on CPUs, so that
# test needs cpu).
_RUNS = Path(tempfile.mkdtemp(prefix="unlearnlab-test-runs-"))
os.environ["UNLEARNLAB_QUIET"] = "1"
os.environ["UNLEARNLAB_RUNS"] = str(_RUNS)
os.environ.setdefault("UNLEARNLAB_DEVICE", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def runs_dir() -> Path:
    return _RUNS


@pytest.fixture(scope="session")
def smoke():
    from unlearnlab import config

    return config.get_preset("smoke")


@pytest.fixture(scope="session")
def digits(smoke):
    from unlearnlab import experiment

    return experiment.load_preset_data(smoke)


@pytest.fixture(scope="session")
def original(smoke, digits):
    """The smoke preset's trained original model (trained once per test run)."""
    from unlearnlab import experiment

    return experiment.train_original(smoke, digits)


@pytest.fixture(scope="session")
def class_split(smoke, digits):
    from unlearnlab import data

    return data.class_split(digits, smoke.forget_class)
