"""One seaborn theme, the recurring figures, and ``save`` with stable metadata."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from . import paths, vocabulary
from .experiment import TUNED, tuned_pairs

# PDF: no creation date; PNG: no software version. Same figure -> same bytes, at any commit.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
_PNG_METADATA = {"Software": None}

#: The sidecar in each figure folder naming the commit each figure was drawn at.
PROVENANCE = "provenance.json"


def figure_metadata(ext: str) -> dict:
    """Metadata that never changes, so an unchanged figure keeps its bytes: the commit a
    figure came from is in its folder's :data:`PROVENANCE` sidecar instead."""
    return dict(_PDF_METADATA) if ext == "pdf" else dict(_PNG_METADATA)


def _record_provenance(directory: Path, name: str) -> None:
    sidecar = directory / PROVENANCE
    try:
        records = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        records = {}
    records[name] = {"commit": paths.commit_stamp()}
    paths.atomic_write_text(sidecar, json.dumps(dict(sorted(records.items())), indent=1) + "\n")


def set_theme() -> None:
    """The project's one look: seaborn whitegrid, colourblind palette, readable sizes.
    Also seeds numpy's global generator, which seaborn's strip-plot jitter draws from, so
    a notebook re-run draws its points where the last run did."""
    np.random.seed(0)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
                         "svg.hashsalt": "unlearnlab", "pdf.fonttype": 42})


def save(fig: plt.Figure, name: str, directory: Path | None) -> list[Path]:
    """Write ``directory/name.png`` and ``directory/name.pdf`` with stable metadata, so
    re-drawing an unchanged figure leaves identical files, and record the commit in the
    folder's :data:`PROVENANCE` sidecar.

    ``directory=None`` writes nothing: the notebooks pass it unless ``SAVE_FIGURES`` is
    on, so an interactive run never overwrites the committed figures."""
    if directory is None:
        return []
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        path = directory / f"{name}.{ext}"
        fig.savefig(path, format=ext, metadata=figure_metadata(ext))
        written.append(path)
    _record_provenance(directory, name)
    return written


def training_curve(history, title: str = "Training curve") -> plt.Figure:
    """Loss and accuracy per epoch (train, and test when recorded)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(history.epoch, history.train_loss, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="train loss (cross-entropy)")
    ax_acc.plot(history.epoch, history.train_acc, marker="o", label="train")
    if history.test_acc:
        ax_acc.plot(history.epoch, history.test_acc, marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor,
                     class_names: Sequence[str], title: str = "Confusion matrix (test)") -> plt.Figure:
    """Row-normalised confusion matrix, in percent of each true class."""
    k = len(class_names)
    counts = torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k).double()
    percent = (100 * counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    size = max(4.5, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(percent, annot=k <= 12, fmt=".0f", cmap="Blues", vmin=0, vmax=100,
                xticklabels=class_names, yticklabels=class_names, cbar_kws={"label": "% of true class"},
                ax=ax)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig


def per_class_accuracy(accuracies: pd.DataFrame, title: str = "Per-class test accuracy") -> plt.Figure:
    """Bars of accuracy per class; ``accuracies`` has columns class, accuracy
    (and optionally model, one bar colour per model)."""
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * accuracies["class"].nunique() + 2), 3.5))
    hue = "model" if "model" in accuracies else None
    sns.barplot(data=accuracies, x="class", y="accuracy", hue=hue, ax=ax)
    ax.set(ylim=(0, 1.02), xlabel="", ylabel="accuracy", title=title)
    ax.tick_params(axis="x", rotation=30)
    return fig


def method_comparison(table: pd.DataFrame, metrics: Sequence[str] = ("acc_forget", "acc_retain", "acc_test"),
                      title: str = "Unlearning methods") -> plt.Figure:
    """Grouped bars: one group per metric, one bar per method."""
    long = table.melt(id_vars="method", value_vars=list(metrics), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(lambda column: textwrap.fill(vocabulary.label(column), 16))
    fig, ax = plt.subplots(figsize=(1.6 * len(metrics) + 4, 3.6))
    sns.barplot(data=long, x="metric", y="value", hue="method", ax=ax,
                palette=method_palette(long["method"].unique()))
    ax.set(ylim=(0, 1.05), xlabel="", ylabel="accuracy / fraction", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, *, columns: int = 8,
               title: str = "") -> plt.Figure:
    """Images (N, C, H, W), each min-max scaled on its own (so noise is visible)."""
    n = len(images)
    rows = -(-n // columns)
    title_lines = 1 + max((t.count("\n") for t in titles), default=0) if titles is not None else 0
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, (1.25 + 0.2 * title_lines) * rows + 0.4),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().float().cpu()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def weight_change_lines(changes: pd.DataFrame, *, hue: str = "method",
                        title: str = "Relative weight change per layer") -> plt.Figure:
    """Relative Frobenius change per conv/linear layer (x: layers in forward order)."""
    layers = changes[changes["kind"].isin(["conv", "linear"])]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * layers["layer"].nunique() + 3), 3.6))
    sns.lineplot(data=layers, x="layer", y="relative_change", hue=hue, marker="o", sort=False, ax=ax)
    ax.set(xlabel="layer (input -> output)", ylabel="||W - W0|| / ||W0||", title=title)
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def relevance_heatmaps(images: torch.Tensor, relevance: torch.Tensor, titles: Sequence[str],
                       *, title: str = "") -> plt.Figure:
    """Each image above its LRP relevance map (summed over channels), each map scaled to
    its own largest magnitude; the colour bar reads red = evidence for the predicted
    class, blue = against it."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 1.0, 3.8), squeeze=False,
                             gridspec_kw={"right": 0.92, "wspace": 0.08, "hspace": 0.25})
    shown = None
    for i in range(n):
        img = images[i].float()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
        axes[0, i].imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        axes[0, i].set_title(titles[i], fontsize=8)
        heat = relevance[i].sum(0).numpy()
        bound = max(float(abs(heat).max()), 1e-12)
        shown = axes[1, i].imshow(heat / bound, cmap="bwr", vmin=-1, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    bar = fig.colorbar(shown, cax=fig.add_axes((0.94, 0.1, 0.012, 0.36)), ticks=[-1, 0, 1])
    bar.ax.set_yticklabels(["against", "0", "for"], fontsize=8)
    bar.set_label("relevance / max |relevance|", fontsize=8)
    fig.suptitle(title)
    return fig


def embedding_panels(embeddings: pd.DataFrame, class_names: Sequence[str], forget_classes: Sequence[int],
                     *, title: str = "") -> plt.Figure:
    """One t-SNE panel per model; forgotten classes drawn large with a black edge."""
    names = list(dict.fromkeys(embeddings["model"]))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.8), squeeze=False)
    palette = sns.color_palette("tab10", len(class_names))
    for ax, name in zip(axes[0], names, strict=True):
        part = embeddings[embeddings["model"] == name]
        for c, cname in enumerate(class_names):
            pts = part[part["label"] == c]
            forgotten = c in forget_classes
            ax.scatter(pts["x"], pts["y"], s=18 if forgotten else 5, color=palette[c % 10],
                       edgecolors="black" if forgotten else "none", linewidths=0.4,
                       label=f"{cname}{' (forgotten)' if forgotten else ''}", alpha=0.9 if forgotten else 0.6)
        ax.set(title=name, xticks=[], yticks=[])
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7, markerscale=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def clipped_error(mean, spread, low: float = 0.0, high: float = 1.0):
    """Error bars ``[[below], [above]]`` of ``mean +/- spread`` cut at ``low`` and ``high``
    (an accuracy's bar never leaves [0, 1])."""
    mean, spread = pd.Series(mean, dtype=float), pd.Series(spread, dtype=float).fillna(0.0)
    return [(mean - low).clip(lower=0).combine(spread, min).to_numpy(),
            (high - mean).clip(lower=0).combine(spread, min).to_numpy()]


_VARIANT_DASHES = ("-", "--", ":", "-.")


def method_lines(ax, table: pd.DataFrame, x: str, y: str, *, dodge: float = 0.0,
                 methods: Sequence[str] | None = None) -> None:
    """One line per method (mean over rows that share ``x``) in the method's colour and
    marker; variants of a method ("unsir (no noise)") take shades of its colour
    (:func:`method_palette`) and differ by dash. ``dodge`` spreads the methods over
    that width along x, so lines that coincide stay visible."""
    methods = list(dict.fromkeys(table["method"])) if methods is None else list(methods)
    palette = method_palette(methods)
    variant_of: dict[str, int] = {}
    for i, name in enumerate(methods):
        base = name.split(" (")[0]
        variant_of[base] = variant_of.get(base, -1) + 1
        line = table[table["method"] == name].groupby(x)[y].mean()
        shift = (i / max(len(methods) - 1, 1) - 0.5) * dodge if len(methods) > 1 else 0.0
        ax.plot(line.index + shift, line.to_numpy(), color=palette[name], marker=method_marker(name),
                ls=_VARIANT_DASHES[variant_of[base] % len(_VARIANT_DASHES)], ms=6, lw=1.6, label=name)


def method_panels(table: pd.DataFrame, x: str, panels: dict[str, str], *, xlabel: str,
                  title: str = "", dodge: float = 0.2) -> plt.Figure:
    """One panel per column of ``panels`` (``{column: panel title}``), one line per method
    (``method_lines``), integer x ticks, accuracies on a fixed [0, 1] scale and one legend
    for all panels; used for successive requests and for sweeps over a count."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 2.2, 3.8), squeeze=False)
    axes = axes[0]
    for ax, (column, label) in zip(axes, panels.items(), strict=True):
        method_lines(ax, table, x, column, dodge=dodge)
        accuracy = column.startswith("acc")
        ax.set(xlabel=xlabel, ylabel="accuracy" if accuracy else vocabulary.label(column), title=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if accuracy:
            ax.set_ylim(-0.03, 1.03)
    if dodge:
        axes[0].annotate("methods offset along x so that equal lines stay visible", (0, -0.3),
                         xycoords="axes fraction", fontsize=7, color="0.4")
    _legend_outside(fig, axes)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Method colours and the leaderboard

#: One colour per method name, the same in every figure of the repository (a method's
#: colour never depends on which other methods a plot shows or in which order).
_METHOD_COLORS = {
    "original": "#7f7f7f", "retrain": "#000000",
    "finetune": "#1f77b4", "neggrad": "#d62728", "relabel": "#ff7f0e", "reset": "#8c564b",
    "prune": "#e377c2", "lrp_path": "#17becf", "l2ul": "#bcbd22", "unsir": "#2ca02c",
    "bad_teacher": "#9467bd", "scrub": "#e6ab02", "ssd": "#000080", "salun": "#b15928",
    "neggrad_plus": "#f781bf", "l1_sparse": "#4daf4a", "boundary_shrink": "#6a3d9a",
    "retrain (other seed)": "#5a5a5a",
}
#: One marker per method, so that methods of similar colour stay apart.
_METHOD_MARKERS = {
    "original": "o", "retrain": "*", "finetune": "o", "neggrad": "v", "relabel": "^",
    "reset": "s", "prune": "D", "lrp_path": "P", "l2ul": "h", "unsir": "p",
    "bad_teacher": "<", "scrub": ">", "ssd": "d", "salun": "H",
    "neggrad_plus": "X", "l1_sparse": "8", "boundary_shrink": "1", "retrain (other seed)": "*",
}
_SPARE_COLORS = ("#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#ffbb78", "#393b79",
                 "#637939", "#8c6d31", "#843c39")


def method_color(name: str) -> str:
    """The colour of a method, the same in every figure (a label like "unsir (no noise)"
    takes its method's; :func:`method_palette` shades variants shown together); an
    unknown method gets a spare colour chosen by a stable hash of its name."""
    base = name if name in _METHOD_COLORS else name.split(" (")[0]
    if base in _METHOD_COLORS:
        return _METHOD_COLORS[base]
    digest = sum((i + 1) * ord(ch) for i, ch in enumerate(base))
    return _SPARE_COLORS[digest % len(_SPARE_COLORS)]


#: Shades for the variants of one method shown together: (mix, 1 = towards white, 0 = black)
_VARIANT_SHADES = ((0.45, 1.0), (0.4, 0.0), (0.7, 1.0), (0.65, 0.0))


def method_marker(name: str) -> str:
    """The marker of a method (unknown methods: a circle)."""
    return _METHOD_MARKERS.get(name, _METHOD_MARKERS.get(name.split(" (")[0], "o"))


def method_palette(names) -> dict[str, str]:
    """``{name: colour}`` for seaborn's ``palette=`` argument: each method its colour;
    variants of a method ("unsir (no noise)") shades of it, given in the alphabetical
    order of the variants shown, so the palette depends on the set, never on plot order."""
    from matplotlib.colors import to_hex, to_rgb

    names = list(dict.fromkeys(names))
    palette = {}
    for name in names:
        base = name.split(" (")[0]
        variants = sorted(n for n in names if n.startswith(base + " (") and n != base)
        if name not in variants:
            palette[name] = method_color(name)
            continue
        mix, target = _VARIANT_SHADES[variants.index(name) % len(_VARIANT_SHADES)]
        palette[name] = to_hex([(1 - mix) * c + mix * target for c in to_rgb(method_color(base))])
    return palette


def _scenario_axes(scenarios: Sequence[str], width: float = 4.4, height: float = 3.8):
    fig, axes = plt.subplots(1, len(scenarios), figsize=(width * len(scenarios) + 2.2, height),
                             squeeze=False)
    return fig, axes[0]


def _legend_outside(fig: plt.Figure, axes, *, note_collapsed: bool = False,
                    note_tuned: bool = False) -> None:
    """One legend entry per label across the panels, outside on the right."""
    from matplotlib.lines import Line2D

    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if note_tuned:
        handles["arrow: paper defaults ->\ntuned (black edge)"] = Line2D(
            [], [], marker="o", ls="-", color="0.3", mec="black", mew=1.5)
    if note_collapsed:
        handles["hollow: collapsed in\nsome seed (not ranked)"] = Line2D(
            [], [], marker="o", ls="", mfc="none", mec="0.3", color="0.3")
    fig.legend(list(handles.values()), list(handles), loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)


def method_dashes(names) -> dict[str, tuple | str]:
    """``{name: dash pattern}`` for seaborn's ``dashes=`` (with ``style=``): a method's
    row at its tuned setting dashed, every other line solid, so a tuned variant stays
    visible beside its method's other shades."""
    return {name: (4, 2) if name.endswith(TUNED) else "" for name in dict.fromkeys(names)}


def _point(ax, row, x: str, y: str, *, xerr: str | None = None, yerr: str | None = None) -> None:
    """One method's mean with its spread (error bars never below 0), in its colour and
    marker; hollow when it collapsed in some seed."""
    color, retrain = method_color(row.method), row.method == "retrain"
    tuned = row.method.endswith(TUNED)

    def err(column: str | None, mean: float):
        if column is None or pd.isna(row[column]):
            return None
        return clipped_error([mean], [row[column]], high=float("inf"))

    ax.errorbar(row[x], row[y], xerr=err(xerr, row[x]), yerr=err(yerr, row[y]),
                marker=method_marker(row.method), ls="", ms=15 if retrain else 8, color=color,
                mfc="none" if str(row.flag).startswith("COLLAPSED") else color, mec="black" if tuned else color, mew=1.5,
                elinewidth=1, capsize=2, zorder=4 if retrain else 3,
                label=row.method.removesuffix(TUNED))


def _tuning_arrows(ax, part: pd.DataFrame, x: str, y: str) -> bool:
    """An arrow from each method's point at its paper defaults to its point at the tuned
    hyperparameters; True when there was one."""
    points = part.set_index("method")
    pairs = tuned_pairs(list(points.index))
    for base, label in pairs:
        start, end = points.loc[base], points.loc[label]
        ax.annotate("", xy=(end[x], end[y]), xytext=(start[x], start[y]), zorder=2,
                    arrowprops={"arrowstyle": "->", "color": method_color(base), "lw": 1,
                                "alpha": 0.8, "shrinkA": 5, "shrinkB": 5})
    return bool(pairs)


def leaderboard_accuracy(ranked: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Forget accuracy against test accuracy on the retained classes, mean +/- std over
    seeds, one panel per scenario; retrain (the target) is the black star, a method that
    collapsed in some seed is hollow, and an arrow leads from a method's paper defaults to
    its tuned setting (black edge) where the table has both."""
    scenarios = list(dict.fromkeys(ranked["scenario"]))
    fig, axes = _scenario_axes(scenarios)
    tuned = False
    for ax, scenario in zip(axes, scenarios, strict=True):
        part = ranked[ranked["scenario"] == scenario]
        for _, row in part.iterrows():
            _point(ax, row, "acc_test_retain_mean", "acc_forget_mean",
                   xerr="acc_test_retain_std", yerr="acc_forget_std")
        tuned |= _tuning_arrows(ax, part, "acc_test_retain_mean", "acc_forget_mean")
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), title=scenario,
               xlabel="test accuracy, retained classes", ylabel="accuracy on D_f")
    _legend_outside(fig, axes, note_collapsed=True, note_tuned=tuned)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The rows not dominated in (lower ``x``, lower ``y``), sorted by ``x``."""
    ordered = points.sort_values([x, y])
    best, keep = float("inf"), []
    for index, value in ordered[y].items():
        if value < best:
            best = value
            keep.append(index)
    return ordered.loc[keep]


def leaderboard_cost(ranked: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Avg. Gap to retrain (mean +/- std over requests) against wall time, log scale, one
    panel per scenario; the Pareto front (a staircase) of the methods that carry no flag,
    retrain's own time as the dashed line, the noise floor (a retrain from another
    initialisation) as the grey band and doing nothing (the original) as the dotted line."""
    scenarios = list(dict.fromkeys(ranked["scenario"]))
    fig, axes = _scenario_axes(scenarios)
    tuned = False
    for ax, scenario in zip(axes, scenarios, strict=True):
        everything = ranked[ranked["scenario"] == scenario].set_index("method")
        if "retrain (other seed)" in everything.index:
            ax.axhspan(0, everything.avg_gap_mean["retrain (other seed)"], color="0.85", zorder=0,
                       label="noise floor (retrain, other seed)")
        if "original" in everything.index:
            ax.axhline(everything.avg_gap_mean["original"], color="0.3", ls=":", lw=1,
                       label="doing nothing (original)")
        part = ranked[(ranked["scenario"] == scenario)
                      & ~ranked["method"].isin(["retrain", "original", "retrain (other seed)"])]
        for _, row in part.iterrows():
            _point(ax, row, "time_s_mean", "avg_gap_mean", yerr="avg_gap_std")
        tuned |= _tuning_arrows(ax, part, "time_s_mean", "avg_gap_mean")
        front = pareto_front(part[part["flag"] == ""], "time_s_mean", "avg_gap_mean")
        ax.plot(front.time_s_mean, front.avg_gap_mean, color="0.3", lw=1, drawstyle="steps-post",
                zorder=2, label="Pareto front")
        retrain = ranked[(ranked["scenario"] == scenario) & (ranked["method"] == "retrain")]
        if len(retrain):
            ax.axvline(retrain.time_s_mean.iloc[0], color="black", ls="--", lw=1, label="retrain's time")
        ax.set_xscale("log")
        ax.set(ylim=(0, None), title=scenario, xlabel="wall time of the method (s, log)",
               ylabel="Avg. Gap to retrain (lower is better)")
    _legend_outside(fig, axes, note_collapsed=True, note_tuned=tuned)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# The privacy pool (notebook 06)


def exposed_examples(images: torch.Tensor, labels: Sequence[str], epsilons: Sequence[float], *,
                     title: str = "") -> plt.Figure:
    """The forget examples a method leaves most exposed, each with its true class and its
    per-example epsilon (higher = easier to tell from retrain); at most 8, one row."""
    n = min(len(images), 8)
    fig, axes = plt.subplots(1, n, figsize=(0.85 * n + 0.2, 1.6), squeeze=False)
    for ax, image, label, eps in zip(axes[0], images[:n], labels[:n], epsilons[:n], strict=False):
        picture = image.float()
        ax.imshow(picture.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if picture.shape[0] == 1 else None)
        ax.set_title(f"{label}\nε = {eps:.1f}", fontsize=7)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def rank_fidelity(table: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Kendall tau of the method ranking at N models per side against the full pool's,
    with its interval over random subsets; the dashed line is tau = 0.9."""
    fig, ax = plt.subplots(figsize=(3.25, 2.4))
    ax.errorbar(table.n, table.tau, yerr=[table.tau - table.tau_low, table.tau_high - table.tau],
                marker="o", color="black", capsize=2, lw=1)
    ax.axhline(0.9, color="0.4", ls="--", lw=1)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="models per side, N", ylabel="Kendall τ with the full pool", ylim=(-1.05, 1.05))
    ax.set_xticks(list(table.n), [str(int(n)) for n in table.n])
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
