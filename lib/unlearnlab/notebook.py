"""One call that sets a notebook up: preset, seed, figure folder, theme, data and the
original model, with a ``save`` that records each figure's provenance.

Every numbered notebook starts with::

    lab = notebook.setup("01-relabel-vs-reset", PRESET, seed=SEED, save_figures=SAVE_FIGURES)
    preset, dataset, original = lab.preset, lab.dataset, lab.original

and draws each figure with a function of :mod:`unlearnlab.plots`, then ``lab.save(fig,
"name")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from . import config, experiment, paths, plots
from .config import Preset
from .data import Dataset


@dataclass
class Lab:
    """What a notebook works with: its name, preset, data, original model (None where
    the notebook trains its own) and figure folder (None: figures are shown, not written)."""

    notebook: str
    preset: Preset
    dataset: Dataset | None
    original: experiment.Original | None
    figures: Path | None
    parameters: dict = field(default_factory=dict)

    def save(self, fig: plt.Figure, name: str) -> list[Path]:
        """Write the figure (when the notebook saves figures) with its notebook, preset
        and seed in the folder's provenance sidecar, then show it."""
        written = plots.save(fig, name, self.figures, parameters={"notebook": self.notebook, **self.parameters})
        plt.show()
        return written


def setup(notebook: str, preset: str | None = None, *, seed: int | None = None, save_figures: bool = False,
          memorising: bool = False, data: bool = True, original: bool = True, **overrides) -> Lab:
    """The preset (``overrides`` as :func:`unlearnlab.config.get_preset` takes them; the
    memorising regime of P3 with ``memorising=True``), the paper theme, the figure folder
    when ``save_figures``, the preset's data and its original model (trained or loaded
    from the cache), and a one-line summary printed."""
    chosen = config.get_preset(preset, seed=seed, **overrides)
    if memorising:
        chosen = config.memorising(chosen)
    plots.set_theme()
    figures = paths.figures_dir(notebook, chosen.name) if save_figures else None
    dataset = experiment.load_preset_data(chosen) if data or original else None
    trained = experiment.train_original(chosen, dataset) if original else None
    lab = Lab(notebook, chosen, dataset, trained, figures,
              {"preset": chosen.name, "seed": chosen.seed, "dataset": chosen.dataset, "model": chosen.model})
    if trained is not None:
        source = "loaded from the cache" if trained.from_cache else f"trained in {trained.train_seconds:.0f} s"
        print(f"preset {chosen.name}: {dataset}, {chosen.model} ({source}; test accuracy "
              f"{trained.history.test_acc[-1]:.4f})")
    return lab
