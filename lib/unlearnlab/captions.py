"""What every figure shows: its caption and the claims it supports, and
``docs/figures.md``, the index of the committed figures generated from these captions and
the figure folders' provenance sidecars (:data:`unlearnlab.plots.PROVENANCE`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .plots import PROVENANCE


@dataclass(frozen=True)
class Caption:
    """A figure's caption (what it shows) and the claims it supports (ids of
    :data:`unlearnlab.claims.CLAIMS`, or a section of the protocol)."""

    text: str
    supports: str = ""


#: ``{notebook: {figure: Caption}}`` for every figure a notebook draws.
CAPTIONS: dict[str, dict[str, Caption]] = {
    "00-train-original": {
        "training-curve": Caption("Training loss, and train and test accuracy, per epoch of the original model."),
        "per-class-accuracy": Caption("Test accuracy of the original model per class."),
        "confusion-matrix": Caption("The original's confusion matrix on the test set, in percent of each true "
                                    "class."),
        "method-comparison": Caption("One class forgotten by finetune and neggrad beside retrain (the target): "
                                     "D_f, forgotten-class test, D_r and retained-class test accuracy, and "
                                     "MIA-Efficacy.", "the baselines' sanity check"),
    },
    "01-relabel-vs-reset": {
        "weight-change": Caption("Relative weight change of every conv and linear layer against the original, one "
                                 "panel per method, one line per number of classes removed (one scale from 0).",
                                 "P1.1, P1.2, P1.3"),
        "cka": Caption("Linear CKA per stage of each unlearned model to the original (top) and to retrain "
                       "(bottom), on forget-class (solid) and retain-class (dashed) images, per forget set.",
                       "P1.2, P1.4"),
        "embeddings": Caption("t-SNE of the penultimate features of test images for the original, relabel, reset "
                              "and retrain, one class removed (drawn large, black-edged).",
                              "P1's feature-distribution analysis"),
        "progressive": Caption("Requests arriving one after another, each forgetting one more class: D_f accuracy "
                               "on every class forgotten so far, and retained-class test accuracy.",
                               "P1's progressive unlearning"),
    },
    "02-lrp-path-perturbation": {
        "input-relevance": Caption("Unseen test images of the forget class and the LRP-ε relevance of each pixel's "
                                   "intensity for the predicted class (the normalisation folded into the first "
                                   "layer, so black pixels carry none): what LRP sees before any edit."),
        "unit-relevance": Caption("Relevance of every penultimate unit for every unseen forget sample, and how "
                                  "often each unit is among a sample's top-k; the N units the edit cuts coloured.",
                                  "P2.1"),
        "every-class": Caption("Forget-class train accuracy and retained-class test accuracy of the edit, its "
                               "noise baselines, the multi-layer and outgoing-only modes and retrain, one point "
                               "per forgotten class.", "P2.1, P2.4, P2.5, P2.6"),
        "n-keep-tradeoff": Caption("Forgetting against keeping as the share N of units cut grows (darker = more "
                                   "units cut), mean ± std over classes; retrain is the star.", "P2.1, P2.1r"),
    },
    "03-instance-wise-unlearning": {
        "k-sweep": Caption("Forgetting k random training samples of a memorising original: D_r and test accuracy, "
                           "and the update steps each arm of l2ul took (dotted: the step cap), against k.",
                           "P3.1, P3.2"),
        "continual": Caption("Successive requests of instances: D_f accuracy on every sample forgotten so far, D_r "
                             "and test accuracy after each request.", "P3.3"),
        "adversarial-examples": Caption("Forget samples and their targeted L2 PGD adversarial examples (target "
                                        "class; hit or miss).", "P3.2"),
    },
    "04-unsir-impair-repair": {
        "single-class-sweep": Caption("One class forgotten at a time: D_f and retained-class test accuracy of "
                                      "retrain, finetune and UNSIR after impair and after repair, one point per "
                                      "class.", "P4.1, P4.3"),
        "multi-class-steps": Caption("Several classes forgotten at once: update steps (log scale; retrain's are its "
                                     "epochs over D_r) and D_f accuracy after the last step.", "P4.1, P4.2"),
        "weight-change": Caption("Relative weight change per layer of UNSIR, finetune and retrain against the "
                                 "original, one class forgotten."),
        "noise": Caption("The error-maximising noise UNSIR learns for a four-class request, with the seeds the "
                         "method uses (the request's seed plus the class's position), and what the original "
                         "predicts on it.", "P4.4"),
    },
    "05-leaderboard": {
        "forget-vs-retain": Caption("Every method's D_f accuracy against retained-class test accuracy, mean ± std "
                                    "over requests, per scenario; below, zoomed on retrain (black star) with the "
                                    "noise floor (grey box: where a retrain from another seed lands).",
                                    "the leaderboard"),
        "gap-vs-time": Caption("Avg. Gap to retrain against wall time per scenario, with the noise floor (grey "
                               "band), doing nothing (dotted), retrain's time (dashed) and the Pareto front.",
                               "the leaderboard"),
    },
    "06-privacy-pool": {
        "most-exposed": Caption("The forget samples the best-scoring method leaves most exposed, with their "
                                "per-example ε.", "the per-example privacy scores"),
        "rank-fidelity": Caption("Kendall τ of the methods' ranking with N models per side against the full "
                                 "pool's, with its interval over random subsets; dashed: τ = 0.9.",
                                 "the cost-fidelity trade-off"),
    },
}

FIGURES_DOC = paths.REPO_ROOT / "docs" / "figures.md"


def caption(notebook: str, figure: str) -> Caption:
    """The caption of a figure; a figure without one is an error, so none is drawn
    without saying what it shows."""
    try:
        return CAPTIONS[notebook][figure]
    except KeyError:
        raise KeyError(f"No caption for {notebook}/{figure}: add it to unlearnlab.captions.CAPTIONS") from None


def committed_figures(root: Path = paths.FIGURES_DIR) -> list[tuple[str, str, Path, dict]]:
    """``(notebook, figure, folder, provenance record)`` of every PNG under ``root``,
    notebooks in order, presets' subfolders after the canonical figures."""
    found = []
    for sidecar in sorted(root.glob("*/" + PROVENANCE)) + sorted(root.glob("*/*/" + PROVENANCE)):
        notebook = sidecar.relative_to(root).parts[0]
        records = json.loads(sidecar.read_text())
        for png in sorted(sidecar.parent.glob("*.png")):
            found.append((notebook, png.stem, sidecar.parent, records.get(png.stem, {})))
    return found


def markdown(root: Path = paths.FIGURES_DIR) -> str:
    """``docs/figures.md``: per notebook, each figure with its caption, the claims it
    supports, its preset and seed, and the commit it was drawn at."""
    lines = ["# Figures", "",
             "Generated by `make report` from `unlearnlab.captions` and the provenance sidecars beside the "
             "figures (`figures/<notebook>/provenance.json`); every figure is drawn by a function of "
             "`unlearnlab.plots` in the notebook named. PNG for reading, PDF beside it for papers.", ""]
    current = None
    for notebook, figure, folder, record in committed_figures(root):
        if notebook != current:
            lines += [f"## {notebook}", "", f"Drawn by `notebooks/{notebook}.ipynb`.", ""]
            current = notebook
        relative = (folder / f"{figure}.png").relative_to(paths.REPO_ROOT)
        about = caption(notebook, figure)
        made = ", ".join(f"{key} {record[key]}" for key in ("preset", "seed", "dataset", "model") if key in record)
        lines += [f"### {figure}" + (f" ({folder.name})" if folder.name != notebook else ""), "",
                  f"![{figure}](../{relative})", "", about.text, ""]
        details = [f"Supports: {about.supports}." if about.supports else "",
                   f"Drawn with {made}." if made else "",
                   f"Commit `{record['commit']}`." if record.get("commit") else ""]
        if any(details):
            lines += [" ".join(d for d in details if d), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_figures_doc() -> Path:
    """Write :data:`FIGURES_DOC`."""
    FIGURES_DOC.parent.mkdir(exist_ok=True)
    FIGURES_DOC.write_text(markdown())
    return FIGURES_DOC
