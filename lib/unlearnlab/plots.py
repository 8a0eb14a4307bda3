"""The paper theme, the method palette, every figure the notebooks draw, and ``save``
with a provenance sidecar.

Figures are sized for a two-column paper: :data:`COLUMN` (3.25 in) or :data:`PAGE`
(6.5 in) wide, never wider than :data:`MAX_WIDTH`, with no text under :data:`MIN_TEXT_PT`
at that size. Every plot coloured by method takes :func:`method_palette`; variants of a
method ("unsir (no noise)") differ by shade, marker and dash. Axis labels come from
:func:`unlearnlab.vocabulary.label`, the mapping the tables use. :func:`save` records
what each figure is (its commit, its parameters, its size, its smallest text and its
legend's colours) in the folder's :data:`PROVENANCE` sidecar, so the image bytes never
change unless the pixels do, and the tests can check every figure a run draws.
"""

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
from matplotlib.colors import to_hex, to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from . import paths, vocabulary
from .experiment import TUNED, tuned_pairs

#: A column and a page of a two-column paper, and the widest a figure may be (inches).
COLUMN, PAGE, MAX_WIDTH = 3.25, 6.5, 7.0
#: The smallest text a figure may carry at its saved size (points).
MIN_TEXT_PT = 7.0
#: Resolution of the PNGs (the PDFs are vector).
DPI = 150
_TEXT_SIZES = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
               "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
               "figure.titlesize": 8.5}

# PDF: no creation date; PNG: no software version. Same figure -> same bytes, at any commit.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
_PNG_METADATA = {"Software": None}

#: The sidecar in each figure folder: per figure, its commit, parameters and measurements.
PROVENANCE = "provenance.json"


def figure_metadata(ext: str) -> dict:
    """Metadata that never changes, so an unchanged figure keeps its bytes: the commit a
    figure came from is in its folder's :data:`PROVENANCE` sidecar instead."""
    return dict(_PDF_METADATA) if ext == "pdf" else dict(_PNG_METADATA)


def set_theme() -> None:
    """The project's one look: seaborn's paper context and whitegrid style, text of 7 to
    8.5 pt, colourblind palette for anything not coloured by method. Also seeds numpy's
    global generator, which seaborn's strip-plot jitter draws from, so a notebook re-run
    draws its points where the last run did."""
    np.random.seed(0)
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", rc=_TEXT_SIZES)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": DPI, "savefig.bbox": "tight",
                         "savefig.pad_inches": 0.03, "svg.hashsalt": "unlearnlab", "pdf.fonttype": 42})


def _handle_colour(handle) -> str | None:
    """The colour a legend entry shows (line, bar, marker or error bar)."""
    if isinstance(handle, Line2D):
        return to_hex(handle.get_color())
    if isinstance(handle, Patch):
        return to_hex(handle.get_facecolor())
    for getter in ("get_facecolor", "get_edgecolor", "get_color"):
        colours = getattr(handle, getter, lambda: [])()
        if len(colours) and np.asarray(colours).ndim == 2 and np.asarray(colours)[0][3] > 0:
            return to_hex(np.asarray(colours)[0])
    return None


def legend_colours(fig: plt.Figure) -> dict[str, str]:
    """``{label: colour}`` of every legend entry of the figure."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    colours = {}
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
            colour = _handle_colour(handle)
            if colour is not None:
                colours.setdefault(text.get_text(), colour)
    return colours


def smallest_text(fig: plt.Figure) -> float | None:
    """The smallest font size (pt) of any visible text in the figure."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else None


def figure_facts(fig: plt.Figure, png: Path) -> dict:
    """What a reviewer checks first, measured on the saved PNG and the figure that drew
    it: width and height (inches), the smallest text (pt) and the legend's colours."""
    from PIL import Image

    with Image.open(png) as image:
        width, height = image.size
    return {"width_in": round(width / DPI, 2), "height_in": round(height / DPI, 2),
            "smallest_text_pt": smallest_text(fig), "legend_colours": legend_colours(fig)}


def palette_problems(colours: dict[str, str]) -> list[str]:
    """Legend entries that name a method (or a variant of one) but do not show the
    colour :func:`method_palette` gives it among the methods of the same legend."""
    named = [label for label in colours if label.split(" (")[0] in _METHOD_COLORS or label in _METHOD_COLORS]
    expected = method_palette(named)
    return [f"{label}: {colours[label]} where the palette gives {expected[label]}"
            for label in named if colours[label].lower() != expected[label].lower()]


def figure_problems(facts: dict) -> list[str]:
    """What keeps a figure out of a paper: wider than :data:`MAX_WIDTH`, text under
    :data:`MIN_TEXT_PT`, a method in a colour that is not its own."""
    problems = []
    if facts["width_in"] > MAX_WIDTH:
        problems.append(f"{facts['width_in']:.2f} in wide (at most {MAX_WIDTH})")
    if facts["smallest_text_pt"] is not None and facts["smallest_text_pt"] < MIN_TEXT_PT:
        problems.append(f"text of {facts['smallest_text_pt']:.1f} pt (at least {MIN_TEXT_PT})")
    return problems + palette_problems(facts.get("legend_colours", {}))


def _record_provenance(directory: Path, name: str, record: dict) -> None:
    sidecar = directory / PROVENANCE
    try:
        records = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        records = {}
    records[name] = record
    paths.atomic_write_text(sidecar, json.dumps(dict(sorted(records.items())), indent=1, sort_keys=True) + "\n")


def save(fig: plt.Figure, name: str, directory: Path | None, *, parameters: dict | None = None) -> list[Path]:
    """Write ``directory/name.png`` and ``directory/name.pdf`` with stable metadata, so
    re-drawing an unchanged figure leaves identical files, and record in the folder's
    :data:`PROVENANCE` sidecar the commit, ``parameters`` (the notebook, preset and seed)
    and :func:`figure_facts`.

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
    _record_provenance(directory, name, {"commit": paths.commit_stamp(), **(parameters or {}),
                                         **figure_facts(fig, written[0])})
    return written


def _legend_below(fig: plt.Figure, axes=(), *, extra: dict | None = None, title: str | None = None,
                  columns: int | None = None, markerscale: float = 1.0) -> None:
    """One legend for all ``axes`` (one entry per label, plus ``extra``), centred under
    the figure in as many columns as its width holds."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("_"):
                handles.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    handles.update(extra or {})
    if not handles:
        return
    longest = max(len(line) for label in handles for line in label.split("\n"))
    fits = int(fig.get_figwidth() // (0.45 + 0.052 * longest))
    ncol = columns or max(1, min(len(handles), fits))
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=ncol, frameon=False, title=title, markerscale=markerscale)


def _suptitle(fig: plt.Figure, title: str) -> None:
    """The figure's title, wrapped to its width."""
    if title:
        fig.suptitle(_wrap(title, int(fig.get_figwidth() * 14)))


def _class_colours(n: int) -> list:
    """Colours for classes (not methods): tab10, then tab20."""
    return sns.color_palette("tab10" if n <= 10 else "tab20", n)


def _wrap(text: str, width: int) -> str:
    return textwrap.fill(text, width)


def _tick_labels(ax, rotation: float = 30) -> None:
    """Slanted x tick labels, each ending under its tick."""
    for label in ax.get_xticklabels():
        label.set_rotation(rotation)
        label.set_ha("right")
        label.set_rotation_mode("anchor")


# --------------------------------------------------------------------------------------
# Notebook 00: the original model and the baselines


def training_curve(history, title: str = "Training curve") -> plt.Figure:
    """Loss and accuracy per epoch (train, and test when recorded)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(PAGE, 2.3))
    ax_loss.plot(history.epoch, history.train_loss, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="train loss (cross-entropy)")
    ax_acc.plot(history.epoch, history.train_acc, marker="o", label="train")
    if history.test_acc:
        ax_acc.plot(history.epoch, history.test_acc, marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _suptitle(fig, title)
    fig.tight_layout()
    return fig


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor,
                     class_names: Sequence[str], title: str = "Confusion matrix (test)") -> plt.Figure:
    """Row-normalised confusion matrix, in percent of each true class."""
    k = len(class_names)
    counts = torch.bincount(labels * k + predictions, minlength=k * k).reshape(k, k).double()
    percent = (100 * counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    side = min(PAGE - 1.0, max(2.4, 0.34 * k + 1.2))
    fig, ax = plt.subplots(figsize=(side + 0.9, side))
    sns.heatmap(percent, annot=k <= 12, fmt=".0f", cmap="Blues", vmin=0, vmax=100, annot_kws={"size": 7},
                xticklabels=class_names, yticklabels=class_names, cbar_kws={"label": "% of the true class"},
                ax=ax)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    _tick_labels(ax, 40)
    return fig


def per_class_accuracy(accuracies: pd.DataFrame, title: str = "Per-class test accuracy") -> plt.Figure:
    """Bars of accuracy per class; ``accuracies`` has columns class, accuracy
    (and optionally model, one bar colour per model)."""
    fig, ax = plt.subplots(figsize=(PAGE, 2.4))
    hue = "model" if "model" in accuracies else None
    sns.barplot(data=accuracies, x="class", y="accuracy", hue=hue, ax=ax)
    ax.set(ylim=(0, 1.02), xlabel="", ylabel="test accuracy", title=title)
    _tick_labels(ax, 30)
    fig.tight_layout()
    if hue:
        _legend_below(fig, [ax])
    return fig


def method_comparison(table: pd.DataFrame, metrics: Sequence[str] = ("acc_forget", "acc_retain", "acc_test"),
                      title: str = "Unlearning methods") -> plt.Figure:
    """Grouped bars: one group per metric (its reader's label), one bar per method in
    the method's colour."""
    long = table.melt(id_vars="method", value_vars=list(metrics), var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(lambda column: _wrap(vocabulary.label(column), 18))
    fig, ax = plt.subplots(figsize=(PAGE, 2.5))
    sns.barplot(data=long, x="metric", y="value", hue="method", ax=ax, saturation=1,
                palette=method_palette(long["method"].unique()))
    ax.set(ylim=(0, 1.05), xlabel="", ylabel="accuracy / attack score", title=title)
    fig.tight_layout()
    _legend_below(fig, [ax])
    return fig


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, *, columns: int = 8,
               title: str = "") -> plt.Figure:
    """Images (N, C, H, W) on a page-wide grid, each min-max scaled on its own (so noise
    is visible)."""
    n = len(images)
    rows = -(-n // columns)
    cell = PAGE / columns
    title_lines = 1 + max((t.count("\n") for t in titles), default=0) if titles is not None else 0
    fig, axes = plt.subplots(rows, columns, figsize=(PAGE, (cell + 0.14 * title_lines) * rows + 0.35),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i].detach().float().cpu()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    _suptitle(fig, title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Notebook 01: what changes inside the network


def weight_change_lines(changes: pd.DataFrame, *, hue: str = "method",
                        title: str = "Relative weight change per layer") -> plt.Figure:
    """Relative Frobenius change per conv/linear layer (x: layers in forward order), one
    line per method in its colour."""
    layers = changes[changes["kind"].isin(["conv", "linear"])].copy()
    names = vocabulary.layer_labels(layers["layer"])
    layers["layer"] = layers["layer"].map(names)
    fig, ax = plt.subplots(figsize=(PAGE, 2.5))
    for name, (colour, dash, marker) in _variant_styles(list(dict.fromkeys(layers[hue]))).items():
        part = layers[layers[hue] == name]
        ax.plot(part["layer"], part["relative_change"], color=colour, ls=dash, marker=marker, label=name)
    ax.set(xlabel="layer (input to output)", ylabel=vocabulary.label("relative_change"), ylim=(0, None),
           title=title)
    _tick_labels(ax, 30)
    fig.tight_layout()
    _legend_below(fig, [ax])
    return fig


def weight_change_facets(weights: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """One panel per method, one line per forget set (light = few classes removed, dark
    = many), relative weight change per conv/linear layer on one scale from 0, so sizes
    compare across panels (Liao & Lin 2024's per-layer analysis)."""
    layers = weights[weights["kind"].isin(["conv", "linear"])].copy()
    layers["layer"] = layers["layer"].map(vocabulary.layer_labels(layers["layer"]))
    methods = list(dict.fromkeys(layers["method"]))
    sets = list(dict.fromkeys(layers["forget"]))
    columns = min(3, len(methods))
    rows = -(-len(methods) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(PAGE, 1.75 * rows + 0.4), sharey=True, squeeze=False)
    shades = sns.color_palette("crest", len(sets))
    for ax, method in zip(axes.flat, methods, strict=False):
        for colour, forget in zip(shades, sets, strict=True):
            part = layers[(layers["method"] == method) & (layers["forget"] == forget)]
            ax.plot(part["layer"], part["relative_change"], color=colour, marker="o", ms=3, label=str(forget))
        ax.set_title(method, color=method_color(method))
        ax.set(xlabel="", ylim=(0, 1.05 * float(layers["relative_change"].max())))
        _tick_labels(ax, 35)
    for ax in axes[:, 0]:
        ax.set_ylabel(vocabulary.label("relative_change"))
    for ax in list(axes.flat)[len(methods):]:
        ax.axis("off")
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, [axes.flat[0]], title="classes removed")
    return fig


def cka_facets(cka: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Linear CKA per stage, one panel per (reference model, forget set), one line per
    method in its colour; solid on forget-class images, dashed on retain-class images."""
    cka = cka.copy()
    cka["stage"] = cka["stage"].map(vocabulary.layer_labels(cka["stage"]))
    versus = list(dict.fromkeys(cka["versus"]))
    sets = list(dict.fromkeys(cka["forget"]))
    styles = _variant_styles(list(dict.fromkeys(cka["method"])))
    fig, axes = plt.subplots(len(versus), len(sets), figsize=(PAGE, 1.7 * len(versus) + 0.5),
                             sharex=True, sharey=True, squeeze=False)
    for (r, reference), (c, forget) in ((a, b) for a in enumerate(versus) for b in enumerate(sets)):
        ax = axes[r, c]
        for method, (colour, _, marker) in styles.items():
            for images, dash in zip(dict.fromkeys(cka["images"]), ("-", "--"), strict=False):
                part = cka[(cka.versus == reference) & (cka.forget == forget) & (cka.method == method)
                           & (cka.images == images)]
                ax.plot(part["stage"], part["cka"], color=colour, ls=dash, marker=marker, ms=3,
                        label=method if dash == "-" else None)
        ax.set_title(f"vs {reference}, {forget}")
        ax.set(ylim=(min(0.0, float(cka["cka"].min())), 1.04), xlabel="", ylabel="linear CKA" if c == 0 else "")
        _tick_labels(ax, 35)
    _suptitle(fig, title)
    fig.tight_layout()
    images = list(dict.fromkeys(cka["images"]))
    extra = {f"on {name}": Line2D([], [], color="0.3", ls=dash) for name, dash in zip(images, ("-", "--"),
                                                                                        strict=False)}
    _legend_below(fig, [axes[0, 0]], extra=extra)
    return fig


def embedding_panels(embeddings: pd.DataFrame, class_names: Sequence[str], forget_classes: Sequence[int],
                     *, title: str = "") -> plt.Figure:
    """One t-SNE panel per model; forgotten classes drawn large with a black edge."""
    names = list(dict.fromkeys(embeddings["model"]))
    side = min(1.9, PAGE / len(names))
    fig, axes = plt.subplots(1, len(names), figsize=(PAGE, side + 0.35), squeeze=False)
    palette = _class_colours(len(class_names))
    for ax, name in zip(axes[0], names, strict=True):
        part = embeddings[embeddings["model"] == name]
        for c, cname in enumerate(class_names):
            pts = part[part["label"] == c]
            forgotten = c in forget_classes
            ax.scatter(pts["x"], pts["y"], s=12 if forgotten else 3, color=palette[c],
                       edgecolors="black" if forgotten else "none", linewidths=0.4,
                       label=f"{cname}{' (forgotten)' if forgotten else ''}", alpha=0.9 if forgotten else 0.6)
        ax.set_title(name, color=method_color(name))
        ax.set(xticks=[], yticks=[])
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, [axes[0, 0]], markerscale=2)
    return fig


# --------------------------------------------------------------------------------------
# Notebook 02: relevance


def relevance_heatmaps(images: torch.Tensor, relevance: torch.Tensor, titles: Sequence[str],
                       *, title: str = "") -> plt.Figure:
    """Each image above its relevance map (summed over channels), each map scaled to its
    own largest magnitude; red = evidence for the predicted class, blue = against it."""
    n = len(images)
    cell = PAGE * 0.89 / (n + 0.06 * (n - 1))
    title_lines = 1 + max(t.count("\n") for t in titles)
    heading = 0.13 * title_lines + (0.16 * len(_wrap(title, int(PAGE * 14)).split("\n")) + 0.08 if title else 0)
    height = 2 * cell + 0.12 + heading
    fig, axes = plt.subplots(2, n, figsize=(PAGE, height), squeeze=False,
                             gridspec_kw={"left": 0.01, "right": 0.9, "wspace": 0.06, "hspace": 0.06,
                                          "bottom": 0.01, "top": 1 - heading / height})
    shown = None
    for i in range(n):
        img = images[i].float()
        img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-8)
        axes[0, i].imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        axes[0, i].set_title(titles[i], fontsize=7)
        heat = relevance[i].sum(0).numpy()
        bound = max(float(abs(heat).max()), 1e-12)
        shown = axes[1, i].imshow(heat / bound, cmap="bwr", vmin=-1, vmax=1)
        for ax in axes[:, i]:
            ax.axis("off")
    bar = fig.colorbar(shown, cax=fig.add_axes((0.92, 0.12, 0.012, 0.33)), ticks=[-1, 0, 1])
    bar.ax.set_yticklabels(["against", "0", "for"], fontsize=7)
    bar.set_label("relevance / max", fontsize=7)
    _suptitle(fig, title)
    return fig


def unit_relevance(relevance: torch.Tensor, frequency: torch.Tensor, kept: Sequence[int], k: int, *,
                   title: str = "") -> plt.Figure:
    """The relevance of every penultimate unit for every sample (histogram), and how
    often each unit is among a sample's top-k (bars, most frequent first; the units cut
    in the method's colour)."""
    width = relevance.shape[1]
    order = frequency.argsort(descending=True)
    fig, (ax_hist, ax_freq) = plt.subplots(1, 2, figsize=(PAGE, 2.3))
    ax_hist.hist(relevance.flatten().numpy(), bins=60, color="0.5")
    ax_hist.set(xlabel="relevance of a penultimate unit (one sample)", ylabel="unit-sample pairs", yscale="log",
                title=f"{relevance.shape[0]} samples × {width} units")
    cut = set(int(u) for u in kept)
    colours = [method_color("lrp_path") if int(u) in cut else "0.75" for u in order]
    ax_freq.bar(range(width), frequency[order].numpy(), color=colours, width=1.0)
    ax_freq.set(xlabel="units, most frequent first", ylabel=f"samples with the unit in top-{k}",
                title=f"the N = {len(cut)} units cut (coloured)")
    _suptitle(fig, title)
    fig.tight_layout()
    return fig


def per_request_boxes(table: pd.DataFrame, x: str, columns: Sequence[str], *, order: Sequence[str] | None = None,
                      hue: str = "forget", title: str = "") -> plt.Figure:
    """One panel per column: a box per ``x`` value (a method, a stage) over the requests,
    with one point per request coloured by ``hue`` (the forgotten class)."""
    order = list(order) if order is not None else list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue]))
    colours = dict(zip(hues, _class_colours(len(hues)), strict=True))
    fig, axes = plt.subplots(1, len(columns), figsize=(PAGE, 2.9), sharey=True, squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        sns.boxplot(data=table, x=x, y=column, order=order, color="0.88", fliersize=0, linewidth=0.8, ax=ax)
        sns.stripplot(data=table, x=x, y=column, order=order, hue=hue, hue_order=hues, palette=colours,
                      size=3.5, ax=ax, legend=ax is axes[0, 0])
        ax.set(xlabel="", ylabel="accuracy", ylim=(-0.03, 1.03), title=vocabulary.label(column))
        _tick_labels(ax, 35)
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, [axes[0, 0]], title=vocabulary.label(hue) if hue != "forget" else "forgotten class")
    return fig


def impair_repair_boxes(single: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """UNSIR's two phases against retrain and finetune over single-class requests (Tarun
    et al. 2023): D_f and retained-class test accuracy after impair (the ``impair_*``
    columns of the unsir rows) and after repair, one point per forgotten class."""
    unsir = single[single["method"] == "unsir"]
    phases = pd.concat([
        unsir.assign(method="unsir, after impair", acc_forget=unsir["impair_acc_forget"],
                     acc_test_retain=unsir["impair_acc_test_retain"]),
        single.assign(method=single["method"].replace({"unsir": "unsir, after repair"})),
    ])
    order = ["retrain", "finetune", "unsir, after impair", "unsir, after repair"]
    return per_request_boxes(phases[phases["method"].isin(order)], "method", ["acc_forget", "acc_test_retain"],
                             order=order, title=title)


def n_keep_tradeoff(curve: pd.DataFrame, retrain: pd.Series, *, title: str = "") -> plt.Figure:
    """Forgetting against keeping as the share N of the layer's units cut grows:
    ``curve`` is indexed by N with (column, mean/std) columns for acc_forget and
    acc_test_retain. The line (the method's colour) follows N in increasing order, each
    point's shade says its N (light = few units cut); retrain is the star."""
    curve = curve.sort_index()
    x_mean, x_std = curve[("acc_test_retain", "mean")], curve[("acc_test_retain", "std")]
    y_mean, y_std = curve[("acc_forget", "mean")], curve[("acc_forget", "std")]
    fig, ax = plt.subplots(figsize=(COLUMN + 0.5, 2.8))
    ax.errorbar(x_mean, y_mean, xerr=clipped_error(x_mean, x_std), yerr=clipped_error(y_mean, y_std),
                ls="-", lw=1, capsize=2, elinewidth=0.7, color=method_color("lrp_path"), label="lrp_path", zorder=2)
    for shade, (n, x, y) in zip(sns.color_palette("rocket_r", len(curve) + 1)[1:],
                                zip(curve.index, x_mean, y_mean, strict=True), strict=True):
        ax.scatter([x], [y], color=shade, s=22, zorder=3, edgecolors="white", linewidths=0.4, label=f"N = {n:.0%}")
    ax.scatter([retrain["acc_test_retain"]], [retrain["acc_forget"]], marker="*", s=90, zorder=5,
               color=method_color("retrain"), label="retrain")
    ax.set(xlabel=vocabulary.label("acc_test_retain"), ylabel="train accuracy, forgotten class",
           xlim=(-0.02, 1.02), ylim=(-0.03, 1.03), title=title)
    ax.legend(loc="center left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Lines per method: sweeps and successive requests (notebooks 01, 03, 04)


def clipped_error(mean, spread, low: float = 0.0, high: float = 1.0):
    """Error bars ``[[below], [above]]`` of ``mean +/- spread`` cut at ``low`` and ``high``
    (an accuracy's bar never leaves [0, 1])."""
    mean, spread = pd.Series(mean, dtype=float), pd.Series(spread, dtype=float).fillna(0.0)
    return [(mean - low).clip(lower=0).combine(spread, min).to_numpy(),
            (high - mean).clip(lower=0).combine(spread, min).to_numpy()]


_VARIANT_DASHES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))
_VARIANT_MARKERS = ("s", "^", "D", "v", "P", "X")
#: Drawn above every other line, in this order (the target and the reference rows).
_ON_TOP = ("original", "retrain (other seed)", "retrain")


def _variant_styles(methods: Sequence[str]) -> dict[str, tuple[str, object, str]]:
    """``{name: (colour, dash, marker)}``: a method its colour, solid, its marker; its
    variants (in alphabetical order) shades of that colour, each with its own dash and
    marker, so that no two lines are told apart by shade alone."""
    palette = method_palette(methods)
    styles = {}
    for name in methods:
        base = name.split(" (")[0]
        variants = sorted(n for n in methods if n.startswith(base + " (") and n != base)
        if name in variants:
            i = variants.index(name)
            markers = [m for m in _VARIANT_MARKERS if m != method_marker(base)]
            styles[name] = (palette[name], _VARIANT_DASHES[(i + 1) % len(_VARIANT_DASHES)],
                            markers[i % len(markers)])
        else:
            styles[name] = (palette[name], "-", method_marker(name))
    return styles


def method_lines(ax, table: pd.DataFrame, x: str, y: str, *, dodge: float = 0.0,
                 methods: Sequence[str] | None = None) -> None:
    """One line per method (mean over rows that share ``x``) in the method's colour and
    marker; variants of a method ("unsir (no noise)") take shades of its colour and their
    own dash and marker (:func:`_variant_styles`); retrain and the reference rows drawn on
    top. ``dodge`` spreads the methods over that width along x, so lines that coincide
    stay visible."""
    methods = list(dict.fromkeys(table["method"])) if methods is None else list(methods)
    styles = _variant_styles(methods)
    for i, name in enumerate(methods):
        line = table[table["method"] == name].groupby(x)[y].mean().dropna()
        if line.empty:
            continue
        colour, dash, marker = styles[name]
        shift = (i / max(len(methods) - 1, 1) - 0.5) * dodge if len(methods) > 1 else 0.0
        top = _ON_TOP.index(name) + 1 if name in _ON_TOP else 0
        ax.plot(line.index + shift, line.to_numpy(), color=colour, marker=marker, ls=dash,
                ms=7 if name == "retrain" else 4, lw=1.2, label=name, zorder=2.5 + top)


def method_panels(table: pd.DataFrame, x: str, panels: dict[str, str], *, xlabel: str,
                  title: str = "", dodge: float = 0.2, names: dict[str, str] | None = None,
                  log: Sequence[str] = ()) -> plt.Figure:
    """One panel per column of ``panels`` (``{column: panel title}``), one line per method
    (:func:`method_lines`), integer x ticks, accuracies on a fixed [0, 1] scale, the
    columns in ``log`` on a log scale, one legend under the panels; ``names`` renames
    the methods for display. Used for successive requests and for sweeps over a count."""
    table = table.assign(method=table["method"].map(lambda m: (names or {}).get(m, m)))
    fig, axes = plt.subplots(1, len(panels), figsize=(PAGE, 2.4), squeeze=False)
    axes = axes[0]
    for ax, (column, label) in zip(axes, panels.items(), strict=True):
        method_lines(ax, table, x, column, dodge=dodge)
        accuracy = column.startswith("acc")
        ax.set(xlabel=xlabel, ylabel="accuracy" if accuracy else vocabulary.label(column), title=_wrap(label, 95 // len(panels)))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if accuracy:
            ax.set_ylim(-0.03, 1.03)
        if column in log:
            ax.set_yscale("log")
    _suptitle(fig, title)
    fig.tight_layout()
    extra = {"(methods offset along x so that\nequal lines stay visible)": Line2D([], [], color="none")} if dodge else None
    _legend_below(fig, axes, extra=extra)
    return fig


#: What notebook 03's arms are, for a reader: each is l2ul's loop with parts turned off.
P3_ARMS = {"neggrad": "neggrad (l2ul loop: no adversarial, no importance)",
           "+ adversarial": "l2ul (adversarial, no importance)", "l2ul (full)": "l2ul",
           "random-label FT": "l2ul (random labels, no adversarial)"}


def k_sweep(table: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Instance-wise unlearning against the number of samples forgotten (Cha et al.
    2024): D_r and test accuracy, and the update steps each arm took with the step cap
    it could not pass (dotted; grey dashes where the cap depends on k). Arms named by
    :data:`P3_ARMS`; retrain on top."""
    shown = table[table["method"] != "original"].assign(
        method=lambda t: t["method"].map(lambda m: P3_ARMS.get(m, m)))
    fig, axes = plt.subplots(1, 3, figsize=(PAGE, 2.4))
    for ax, column in zip(axes, ("acc_retain", "acc_test", "steps"), strict=True):
        method_lines(ax, shown, "k", column)
        ax.set(xscale="log", xlabel=vocabulary.label("k"), ylabel=vocabulary.label(column))
        ks = sorted(shown["k"].unique())
        ax.set_xticks(ks, [str(int(k)) for k in ks])
        ax.minorticks_off()
    caps = shown[["k", "step_cap"]].dropna().drop_duplicates() if "step_cap" in shown else shown.iloc[:0]
    if caps["step_cap"].nunique() == 1:
        axes[2].axhline(caps["step_cap"].iloc[0], color="0.4", ls=":", lw=1, label="step cap", zorder=1)
    elif len(caps):  # a cap by k (a cost cap in images): a grey dash at each arm's cap
        axes[2].scatter(caps["k"], caps["step_cap"], marker="_", s=150, color="0.4", lw=1.5,
                        label="step cap", zorder=1)
    axes[2].set_yscale("log")
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, axes)
    return fig


# --------------------------------------------------------------------------------------
# Method colours and the leaderboard (notebook 05)

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
_VARIANT_SHADES = ((0.45, 1.0), (0.4, 0.0), (0.7, 1.0), (0.65, 0.0), (0.25, 1.0), (0.2, 0.0))


def method_marker(name: str) -> str:
    """The marker of a method (unknown methods: a circle)."""
    return _METHOD_MARKERS.get(name, _METHOD_MARKERS.get(name.split(" (")[0], "o"))


def method_palette(names) -> dict[str, str]:
    """``{name: colour}`` for seaborn's ``palette=`` argument: each method its colour;
    variants of a method ("unsir (no noise)") shades of it, given in the alphabetical
    order of the variants shown, so the palette depends on the set, never on plot order."""
    names = list(dict.fromkeys(names))
    palette = {}
    for name in names:
        base = name.split(" (")[0]
        variants = sorted(n for n in names if n.startswith(base + " (") and n != base and n not in _METHOD_COLORS)
        if name not in variants:
            palette[name] = method_color(name)
            continue
        mix, target = _VARIANT_SHADES[variants.index(name) % len(_VARIANT_SHADES)]
        palette[name] = to_hex([(1 - mix) * c + mix * target for c in to_rgb(method_color(base))])
    return palette


_REFERENCE_ROWS = ("retrain", "original", "retrain (other seed)")


def _styles_of(part: pd.DataFrame) -> dict[str, tuple[str, object, str]]:
    """:func:`_variant_styles` of the methods of a leaderboard panel (a tuned row takes
    its method's style and a black edge)."""
    return _variant_styles(list(dict.fromkeys(m.removesuffix(TUNED) for m in part["method"])))


def _point(ax, row, x: str, y: str, styles: dict, *, xerr: str | None = None, yerr: str | None = None) -> None:
    """One method's mean with its spread (error bars never below 0), in its colour and
    marker (``styles``: :func:`_styles_of`); hollow when it collapsed in some request;
    retrain and the reference rows on top of every method."""
    color, _, marker = styles[row.method.removesuffix(TUNED)]
    retrain, tuned = row.method == "retrain", row.method.endswith(TUNED)

    def err(column: str | None, mean: float):
        if column is None or column not in row or pd.isna(row[column]):
            return None
        return clipped_error([mean], [row[column]], high=float("inf"))

    top = {"retrain": 6, "original": 5, "retrain (other seed)": 5}.get(row.method, 3)
    ax.errorbar(row[x], row[y], xerr=err(xerr, row[x]), yerr=err(yerr, row[y]),
                marker=marker, ls="", ms=10 if retrain else 5.5, color=color,
                mfc="none" if str(row.flag).startswith("COLLAPSED") else color, mec="black" if tuned else color,
                mew=1.2, elinewidth=0.8, capsize=1.5, zorder=top, label=row.method.removesuffix(TUNED))


def _tuning_arrows(ax, part: pd.DataFrame, x: str, y: str) -> bool:
    """An arrow from each method's point at its paper defaults to its point at the tuned
    hyperparameters; True when there was one."""
    points = part.set_index("method")
    pairs = tuned_pairs(list(points.index))
    for base, label in pairs:
        start, end = points.loc[base], points.loc[label]
        ax.annotate("", xy=(end[x], end[y]), xytext=(start[x], start[y]), zorder=2,
                    arrowprops={"arrowstyle": "->", "color": method_color(base), "lw": 1,
                                "alpha": 0.8, "shrinkA": 4, "shrinkB": 4})
    return bool(pairs)


def _notes(collapsed: bool, tuned: bool) -> dict:
    notes = {}
    if tuned:
        notes["arrow: paper defaults to\ntuned (black edge)"] = Line2D(
            [], [], marker="o", ls="-", color="0.3", mec="black", mew=1.2)
    if collapsed:
        notes["hollow: collapsed in some\nrequest (not ranked)"] = Line2D(
            [], [], marker="o", ls="", mfc="none", mec="0.3", color="0.3")
    return notes


def _zoom_limits(part: pd.DataFrame, x: str, y: str, *, reach: float = 0.15,
                 pad: float = 0.015) -> tuple[tuple[float, float], tuple[float, float]]:
    """The window around retrain that holds every point within ``reach`` of it (in both
    axes), padded; the reference rows always inside."""
    centre = part[part.method == "retrain"][[x, y]].iloc[0]
    near = part[((part[x] - centre[x]).abs() <= reach) & ((part[y] - centre[y]).abs() <= reach)]
    near = pd.concat([near, part[part.method.isin(_REFERENCE_ROWS[::2])]])
    (x0, x1), (y0, y1) = (near[x].min(), near[x].max()), (near[y].min(), near[y].max())
    spread = max(x1 - x0, y1 - y0, 0.02)
    return (x0 - pad - 0.05 * spread, x1 + pad + 0.05 * spread), (y0 - pad - 0.05 * spread, y1 + pad + 0.05 * spread)


def _noise_box(ax, part: pd.DataFrame, x: str, y: str) -> None:
    """Where a retrain from another initialisation lands around retrain: a grey box of
    half-widths |difference of the means| + its std, per axis."""
    rows = part.set_index("method")
    if not {"retrain", "retrain (other seed)"} <= set(rows.index):
        return
    target, other = rows.loc["retrain"], rows.loc["retrain (other seed)"]
    half = [abs(other[c] - target[c]) + (0 if pd.isna(other.get(c.replace("_mean", "_std"))) else
                                         other[c.replace("_mean", "_std")]) for c in (x, y)]
    ax.add_patch(Rectangle((target[x] - half[0], target[y] - half[1]), 2 * half[0], 2 * half[1],
                           color="0.85", zorder=1, label="noise floor (retrain, other seed)"))


def leaderboard_accuracy(ranked: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Forget accuracy against test accuracy on the retained classes, mean +/- std over
    requests, one column per scenario: above, the whole [0, 1] square; below, zoomed on
    the points near retrain (the window marked above). Retrain is the black star, drawn
    over every method with the reference rows; the grey box is the noise floor (where a
    retrain from another initialisation lands); a method that collapsed in some request
    is hollow; an arrow leads from a method's paper defaults to its tuned setting."""
    x, y = "acc_test_retain_mean", "acc_forget_mean"
    scenarios = list(dict.fromkeys(ranked["scenario"]))
    fig, axes = plt.subplots(2, len(scenarios), figsize=(PAGE, 4.3), squeeze=False,
                             gridspec_kw={"height_ratios": (1, 1.15)})
    tuned = collapsed = False
    for c, scenario in enumerate(scenarios):
        part = ranked[ranked["scenario"] == scenario]
        collapsed |= part["flag"].astype(str).str.startswith("COLLAPSED").any()
        styles = _styles_of(part)
        for r, ax in enumerate(axes[:, c]):
            _noise_box(ax, part, x, y)
            for _, row in part.iterrows():
                _point(ax, row, x, y, styles, xerr="acc_test_retain_std", yerr="acc_forget_std")
            tuned |= _tuning_arrows(ax, part, x, y)
            ax.set(xlabel=vocabulary.label("acc_test_retain") if r else "", ylabel="D_f accuracy" if c == 0 else "")
        full, zoom = axes[:, c]
        full.set(xlim=(-0.02, 1.02), ylim=(-0.03, 1.05), title=_wrap(scenario, 30))
        if (part.method == "retrain").any():
            xlim, ylim = _zoom_limits(part, x, y)
            zoom.set(xlim=xlim, ylim=ylim)
            full.add_patch(Rectangle((xlim[0], ylim[0]), xlim[1] - xlim[0], ylim[1] - ylim[0], fill=False,
                                     ec="0.3", lw=0.8, ls="--", zorder=7))
            zoom.set_title("zoom: the dashed box above", fontsize=7)
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, axes[0], extra=_notes(collapsed, tuned))
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
    fig, axes = plt.subplots(1, len(scenarios), figsize=(PAGE, 2.5), squeeze=False)
    axes = axes[0]
    tuned = collapsed = False
    for ax, scenario in zip(axes, scenarios, strict=True):
        everything = ranked[ranked["scenario"] == scenario].set_index("method")
        if "retrain (other seed)" in everything.index:
            ax.axhspan(0, everything.avg_gap_mean["retrain (other seed)"], color="0.85", zorder=0,
                       label="noise floor (retrain, other seed)")
        if "original" in everything.index:
            ax.axhline(everything.avg_gap_mean["original"], color="0.3", ls=":", lw=1,
                       label="doing nothing (original)")
        part = ranked[(ranked["scenario"] == scenario) & ~ranked["method"].isin(_REFERENCE_ROWS)]
        collapsed |= part["flag"].astype(str).str.startswith("COLLAPSED").any()
        styles = _styles_of(part)
        for _, row in part.iterrows():
            _point(ax, row, "time_s_mean", "avg_gap_mean", styles, yerr="avg_gap_std")
        tuned |= _tuning_arrows(ax, part, "time_s_mean", "avg_gap_mean")
        front = pareto_front(part[part["flag"] == ""], "time_s_mean", "avg_gap_mean")
        ax.plot(front.time_s_mean, front.avg_gap_mean, color="0.3", lw=1, drawstyle="steps-post",
                zorder=2, label="Pareto front")
        retrain = ranked[(ranked["scenario"] == scenario) & (ranked["method"] == "retrain")]
        if len(retrain):
            ax.axvline(retrain.time_s_mean.iloc[0], color="black", ls="--", lw=1, label="retrain's time")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(ylim=(0, None), title=_wrap(scenario, 30), xlabel="wall time (s, log scale)",
               ylabel="Avg. Gap to retrain" if ax is axes[0] else "")
    _suptitle(fig, title)
    fig.tight_layout()
    _legend_below(fig, axes, extra=_notes(collapsed, tuned))
    return fig


# --------------------------------------------------------------------------------------
# The privacy pool (notebook 06)


def exposed_examples(images: torch.Tensor, labels: Sequence[str], epsilons: Sequence[float], *,
                     title: str = "") -> plt.Figure:
    """The forget examples a method leaves most exposed, each with its true class and its
    per-example epsilon (higher = easier to tell from retrain); at most 8, one row."""
    n = min(len(images), 8)
    fig, axes = plt.subplots(1, n, figsize=(0.8 * n + 0.2, 1.55), squeeze=False)
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
    fig, ax = plt.subplots(figsize=(COLUMN, 2.3))
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
