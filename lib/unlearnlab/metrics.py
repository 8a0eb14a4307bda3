"""Metrics of unlearning: accuracies per split, membership inference, ZRF, distances to
retrain. Every metric is a function of logits, so it is testable on known answers;
:class:`Evaluation` runs each model once per split and returns one flat row.

Membership inference comes in incompatible variants; every column names its variant
(the README's "Evaluation protocol" gives the conventions):

- ``mia_entropy_lr_member``: logistic regression on prediction entropy, D_r (member) vs
  test (non-member), applied to D_f; fraction of D_f judged member (Chundawat et al.
  2023 "Bad Teacher", Foster et al. 2024 SSD). Retrain's value is the reference.
- ``mia_svc_nonmember``: SVC(C=3) on true-class confidence, retain subset vs test,
  applied to D_f; fraction judged non-member ("MIA-efficacy", Jia et al. 2023 SalUn).
  The kernel is linear, so the attack is a threshold, monotone in confidence. SalUn's
  code uses an RBF kernel, which is not monotone and extrapolates arbitrarily below the
  confidences it was fitted on: under class forgetting (D_f confidences near 0) it
  judged one method's D_f all members and another's all non-members on the same kind of
  split (0.000 vs 1.000), a coin flip.
- ``mia_svm_softmax_nonmember`` (P2, only where the notebook asks): the reference code's
  attack, a linear SVC on standardised softmax outputs of the original model.
- ``mia_loss_lr_acc``: logistic regression on per-sample loss, D_f vs test samples of
  the same classes, cross-validated accuracy; 0.5 is ideal (NeurIPS 2023 challenge).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from torch import nn

from . import paths, vocabulary
from .data import Dataset, ForgetSplit, stratified_subset
from .training import as_input, model_device, predict

MIA_MAX_PER_SIDE = 1000  # samples per side of an attack (SVC is quadratic in n)


# --------------------------------------------------------------------------------------
# Pure functions of logits


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]; NaN for an empty set."""
    if len(labels) == 0:
        return float("nan")
    return float((logits.argmax(1) == labels).float().mean())


def per_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor,
                       class_names: Sequence[str]) -> pd.DataFrame:
    """Accuracy of each class, as a DataFrame (class, accuracy, n)."""
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        acc = float((predictions[mask] == c).float().mean()) if mask.any() else float("nan")
        rows.append({"class": name, "accuracy": acc, "n": int(mask.sum())})
    return pd.DataFrame(rows)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each softmax prediction."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(1)


def _scaled_down(logits: torch.Tensor, limit: float = 1e4) -> torch.Tensor:
    """Each row divided by max(1, its largest |logit| / ``limit``)."""
    if logits.dim() != 2 or logits.numel() == 0:
        return logits
    return logits / (logits.abs().amax(1, keepdim=True) / limit).clamp(min=1.0)


def true_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.softmax(logits.float(), dim=1).gather(1, labels[:, None]).squeeze(1)


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels, reduction="none")


def js_divergence(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample Jensen-Shannon divergence (base 2, so in [0, 1]) of two predictions."""
    p = F.softmax(p_logits.float(), dim=1)
    q = F.softmax(q_logits.float(), dim=1)
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (a.clamp_min(1e-12).log2() - b.clamp_min(1e-12).log2())).sum(1)

    return (0.5 * kl(p, m) + 0.5 * kl(q, m)).clamp(0.0, 1.0)


def zrf_score(model_logits: torch.Tensor, random_logits: torch.Tensor) -> float:
    """Zero Retrain Forgetting (Chundawat et al. 2023): 1 - mean JS divergence between
    the model and a randomly initialised one on D_f. 1 = behaves like a random model."""
    if len(model_logits) == 0:
        return float("nan")
    return float(1.0 - js_divergence(model_logits, random_logits).mean())


def activation_distance(a_logits: torch.Tensor, b_logits: torch.Tensor) -> float:
    """Mean L2 distance between the two models' output probabilities (Chundawat et al.
    2023); 0 = identical predictions."""
    if len(a_logits) == 0:
        return float("nan")
    diff = F.softmax(a_logits.float(), 1) - F.softmax(b_logits.float(), 1)
    return float(diff.norm(dim=1).mean())


def _balanced(a: np.ndarray, b: np.ndarray, seed: int, cap: int = MIA_MAX_PER_SIDE):
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b), cap)
    return rng.choice(a, n, replace=False), rng.choice(b, n, replace=False)


def mia_entropy_lr(retain_logits: torch.Tensor, test_logits: torch.Tensor,
                   forget_logits: torch.Tensor, *, seed: int = 0) -> float:
    """Fraction of D_f judged *member* by an entropy attack trained on D_r vs test."""
    if len(forget_logits) == 0:
        return float("nan")
    member, nonmember = _balanced(entropy(retain_logits).numpy(), entropy(test_logits).numpy(), seed)
    x = np.concatenate([member, nonmember])[:, None]
    y = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    attack = LogisticRegression(class_weight="balanced").fit(x, y)
    return float(attack.predict(entropy(forget_logits).numpy()[:, None]).mean())


def mia_svc_confidence(retain_logits: torch.Tensor, retain_labels: torch.Tensor,
                       test_logits: torch.Tensor, test_labels: torch.Tensor,
                       forget_logits: torch.Tensor, forget_labels: torch.Tensor,
                       *, seed: int = 0) -> float:
    """Fraction of D_f judged *non-member* by a linear SVC on true-class confidence
    trained on a retain subset vs test (SalUn's MIA-efficacy with a monotone attack;
    higher = more forgotten)."""
    if len(forget_logits) == 0:
        return float("nan")
    member, nonmember = _balanced(true_class_confidence(retain_logits, retain_labels).numpy(),
                                  true_class_confidence(test_logits, test_labels).numpy(), seed)
    x = np.concatenate([member, nonmember])[:, None]
    y = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    attack = SVC(C=3, kernel="linear").fit(x, y)
    conf = true_class_confidence(forget_logits, forget_labels).numpy()[:, None]
    return float(1.0 - attack.predict(conf).mean())


def mia_loss_lr(forget_logits: torch.Tensor, forget_labels: torch.Tensor,
                heldout_logits: torch.Tensor, heldout_labels: torch.Tensor,
                *, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated accuracy of a loss attack telling D_f from held-out samples of
    the same classes; 0.5 = indistinguishable (the ideal), 1 = fully exposed.
    NaN when either side has fewer than 2 samples."""
    keep = torch.isin(heldout_labels, forget_labels.unique())
    f_loss = per_sample_loss(forget_logits, forget_labels).numpy()
    h_loss = per_sample_loss(heldout_logits[keep], heldout_labels[keep]).numpy()
    member, nonmember = _balanced(f_loss, h_loss, seed)
    n = len(member)
    if n < 2:
        return float("nan")
    x = np.concatenate([member, nonmember])[:, None]
    y = np.concatenate([np.ones(n), np.zeros(n)])
    cv = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(), x, y, cv=cv, scoring="accuracy").mean())


def mia_svm_softmax(original_member: torch.Tensor, original_nonmember: torch.Tensor,
                    forget_logits: torch.Tensor, *, seed: int = 0) -> float:
    """Chang et al. 2024's attack as their code runs it: a linear SVC on standardised
    softmax outputs of the *original* model, forget-class train samples (member) vs
    forget-class test samples (non-member), applied to the unlearned model's outputs on
    D_f; fraction judged non-member."""
    if len(forget_logits) == 0 or len(original_nonmember) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    n = min(len(original_member), len(original_nonmember), MIA_MAX_PER_SIDE)
    member = F.softmax(original_member.float(), 1).numpy()[rng.choice(len(original_member), n, replace=False)]
    nonmember = F.softmax(original_nonmember.float(), 1).numpy()[rng.choice(len(original_nonmember), n, replace=False)]
    x = np.concatenate([member, nonmember])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    attack = make_pipeline(StandardScaler(), LinearSVC(random_state=seed)).fit(x, y)
    return float(1.0 - attack.predict(F.softmax(forget_logits.float(), 1).numpy()).mean())


# --------------------------------------------------------------------------------------
# One evaluation protocol for every method


class Evaluation:
    """Evaluates any model of a split the same way, and returns one flat row.

    D_r is evaluated on a seeded sample of at most ``retain_max`` images, the test set on
    a seeded class-stratified sample of at most ``test_max`` (None = all).
    ``random_model`` (same architecture, fresh initialisation) is the ZRF reference;
    ``set_reference(evaluation.logits(retrain))`` enables the distances to retrain, and
    ``set_original(evaluation.logits(original))`` P2's SVM attack (``mia_svm_softmax_nonmember``).
    ``accuracy_only=True`` skips attacks and distances (for cheap parameter sweeps).
    """

    def __init__(self, dataset: Dataset, split: ForgetSplit, *, random_model: nn.Module,
                 retain_max: int | None = None, test_max: int | None = None, seed: int = 0,
                 device: torch.device | None = None):
        self.dataset, self.split, self.seed, self.device = dataset, split, seed, device
        retain = split.retain_indices
        if retain_max is not None and len(retain) > retain_max:
            gen = torch.Generator().manual_seed(seed)
            retain = retain[torch.randperm(len(retain), generator=gen)[:retain_max]].sort().values
        x, y = dataset.x_train, dataset.y_train
        test = torch.arange(len(dataset.y_test))
        if test_max is not None and len(test) > test_max:
            test = stratified_subset(dataset.y_test, test_max, seed=seed)
        x_test, y_test = dataset.x_test[test], dataset.y_test[test]
        test_forget = torch.isin(y_test, torch.tensor(split.forget_classes, dtype=torch.long))
        self.sets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
            "forget": (x[split.forget_indices], y[split.forget_indices]),
            "retain": (x[retain], y[retain]),
            "test": (x_test, y_test),
        }
        self.test_forget_mask = test_forget
        self.random_forget_logits = self.logits(random_model, sets=("forget",))["forget"]
        self.reference_logits: torch.Tensor | None = None
        self.original_logits: dict[str, torch.Tensor] | None = None

    def logits(self, model: nn.Module, sets: tuple[str, ...] = ("forget", "retain", "test")
               ) -> dict[str, torch.Tensor]:
        """The model's logits on each evaluated set (computed once, reusable)."""
        return {name: predict(model, self.sets[name][0], normalize=self.dataset.normalize,
                              device=self.device) for name in sets}

    @staticmethod
    def _finite(logits: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], float]:
        """A diverged model (e.g. NegGrad at too high a rate) outputs NaN/inf: score its
        outputs as uninformative (NaN -> 0) and report the fraction that was non-finite.
        Rows whose largest |logit| exceeds 1e4 are also scaled down to it (the ranking,
        so the prediction, is kept): a diverging model's finite logits of 1e30 and more
        make log-softmax -inf and every attack's features NaN (measured: notebook 03,
        seed 1, cpu preset). Healthy logits are far inside that range."""
        total = sum(v.numel() for v in logits.values())
        bad = sum(int((~torch.isfinite(v)).sum()) for v in logits.values())
        clean = {k: _scaled_down(torch.nan_to_num(v, nan=0.0, posinf=1e4, neginf=-1e4))
                 for k, v in logits.items()}
        return clean, bad / max(total, 1)

    def set_reference(self, retrain_logits: dict[str, torch.Tensor]) -> None:
        """Use retrain's :meth:`logits` as the gold standard of the distance metrics."""
        self.reference_logits = retrain_logits["forget"]

    def set_original(self, original_logits: dict[str, torch.Tensor]) -> None:
        """Train P2's SVM attack on the original model's :meth:`logits`."""
        self.original_logits = original_logits

    def evaluate(self, model: nn.Module | None = None, *, logits: dict[str, torch.Tensor] | None = None,
                 accuracy_only: bool = False) -> dict[str, float]:
        """One row of metrics for ``model`` (or for its precomputed :meth:`logits`)."""
        if logits is None:
            if model is None:
                raise ValueError("evaluate needs a model or its logits")
            logits = self.logits(model)
        logits, nonfinite = self._finite(logits)
        (_, yf), (_, yr), (_, yt) = self.sets["forget"], self.sets["retain"], self.sets["test"]
        lt, mask = logits["test"], self.test_forget_mask
        row = {
            "acc_forget": accuracy(logits["forget"], yf),
            "acc_retain": accuracy(logits["retain"], yr),
            "acc_test_forget": accuracy(lt[mask], yt[mask]),
            "acc_test_retain": accuracy(lt[~mask], yt[~mask]),
            "acc_test": accuracy(lt, yt),
            "nonfinite_outputs": nonfinite,
        }
        if accuracy_only:
            return row
        row |= {
            # members and non-members of the attacks are drawn from retained classes, so
            # the attack learns "seen vs unseen", not "forget class vs others"
            "mia_entropy_lr_member": mia_entropy_lr(logits["retain"], lt[~mask], logits["forget"],
                                                    seed=self.seed),
            "mia_svc_nonmember": mia_svc_confidence(logits["retain"], yr, lt[~mask], yt[~mask],
                                                    logits["forget"], yf, seed=self.seed),
            "mia_loss_lr_acc": mia_loss_lr(logits["forget"], yf, lt, yt, seed=self.seed),
            "zrf": zrf_score(logits["forget"], self.random_forget_logits),
        }
        if self.original_logits is not None:
            row["mia_svm_softmax_nonmember"] = mia_svm_softmax(
                self.original_logits["forget"], self.original_logits["test"][mask], logits["forget"],
                seed=self.seed)
        if self.reference_logits is not None:
            row["js_to_retrain"] = float(js_divergence(logits["forget"], self.reference_logits).mean())
            row["act_dist_to_retrain"] = activation_distance(logits["forget"], self.reference_logits)
        return row


    def relearn_steps(self, model: nn.Module, *, n: int = 64, target: float = 0.8,
                      lr: float = 0.01, batch_size: int = 32, max_steps: int = 100,
                      check_max: int = 1000) -> int:
        """Relearn time: SGD steps of fine-tuning on ``n`` D_f samples mixed with ``n``
        D_r samples until accuracy on the *rest* of D_f (at most ``check_max`` of it)
        reaches ``target`` (checked every step). Returns ``max_steps + 1`` when it never
        does. Fewer steps = the forgotten knowledge is closer to the surface. The model
        is not modified."""
        (xf, yf), (xr, yr) = self.sets["forget"], self.sets["retain"]
        gen = torch.Generator().manual_seed(self.seed)
        pf, pr = torch.randperm(len(yf), generator=gen), torch.randperm(len(yr), generator=gen)
        x = torch.cat([xf[pf[:n]], xr[pr[:n]]])
        y = torch.cat([yf[pf[:n]], yr[pr[:n]]])
        check_x, check_y = xf[pf[n:n + check_max]], yf[pf[n:n + check_max]]
        if len(check_y) == 0:
            raise ValueError(f"D_f has {len(yf)} samples: too few to relearn on {n} and check the rest")
        device = self.device or model_device(model)
        learner = copy.deepcopy(model).to(device)
        optimizer = torch.optim.SGD(learner.parameters(), lr=lr, momentum=0.9)
        check = self.dataset.normalize(check_x.to(device))
        for step in range(1, max_steps + 1):
            idx = torch.randint(len(y), (batch_size,), generator=gen)
            learner.train()
            loss = F.cross_entropy(learner(self.dataset.normalize(x[idx].to(device))), y[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            learner.eval()
            with torch.no_grad():
                if accuracy(learner(check).cpu(), check_y) >= target:
                    return step
        return max_steps + 1


# --------------------------------------------------------------------------------------
# Tables

GAP_COLUMNS = ("acc_forget", "acc_retain", "acc_test_forget", "acc_test_retain", "acc_test",
               "mia_entropy_lr_member", "mia_svc_nonmember", "mia_loss_lr_acc")


def add_gap_to_retrain(table: pd.DataFrame, columns: Sequence[str] = GAP_COLUMNS,
                       *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Add ``gap_<col>`` = value - retrain's value, and ``speedup`` = retrain time / time.

    ``by`` names columns that identify comparable groups (e.g. the forget set), each of
    which must hold exactly one ``method == "retrain"`` row.
    """
    out = table.copy()
    groups = out.groupby(list(by), sort=False) if by else [((), out)]
    for key, group in groups:
        reference = group[group["method"] == "retrain"]
        if len(reference) != 1:
            raise ValueError(f"Need exactly one retrain row per group {key!r}, found {len(reference)}")
        ref = reference.iloc[0]
        for col in columns:
            if col in out:
                out.loc[group.index, f"gap_{col}"] = group[col] - ref[col]
        if "time_s" in out:
            out.loc[group.index, "speedup"] = ref["time_s"] / group["time_s"].clip(lower=1e-9)
    return out


def save_results(table: pd.DataFrame, notebook: str, preset: str) -> Any:
    """Write ``runs/<preset>/results/<notebook>.csv`` (inside a grid run, its own
    ``results/``) atomically, so that an interrupted run never leaves half a table, and
    return its path."""
    path = paths.results_path(notebook, preset)
    paths.atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))
    return path


def summarize(table: pd.DataFrame, columns: Sequence[str], digits: int = 3) -> str:
    """A fixed-format text table of ``columns`` (what notebooks print for nbval)."""
    shown = table[list(columns)].copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: vocabulary.number(v, digits))
    return shown.to_string(index=False)


#: The columns of the Avg. Gap (Fan et al. 2024, SalUn, Fig. 1 / Table 3): the mean
#: absolute difference to retrain over forget, retain and test accuracy and MIA-Efficacy.
#: Test accuracy is on the retained classes only: under class forgetting the forget
#: class's test images would count forgetting a second time beside D_f accuracy.
AVG_GAP_COLUMNS = ("acc_forget", "acc_retain", "acc_test_retain", "mia_svc_nonmember")


def add_avg_gap(table: pd.DataFrame, columns: Sequence[str] = AVG_GAP_COLUMNS) -> pd.DataFrame:
    """Add ``avg_gap`` = mean over ``columns`` of |gap_<col>| (needs the ``gap_*``
    columns of :func:`add_gap_to_retrain`); a NaN column is left out of the mean."""
    out = table.copy()
    gaps = out[[f"gap_{c}" for c in columns if f"gap_{c}" in out]].abs()
    out["avg_gap"] = gaps.mean(axis=1, skipna=True)
    return out


def forget_class_probe(model: nn.Module, dataset: Dataset, forget_classes: Sequence[int], *,
                       per_class: int = 100, seed: int = 0, device: torch.device | None = None) -> float:
    """Linear-probe accuracy on the forget classes from the model's penultimate features:
    can the forgotten classes still be read from the representation, even where the
    output layer no longer predicts them?

    Held-out test images, ``2 * per_class`` of each class (seeded): a multinomial
    logistic regression on the standardised features of one half (every class) is scored
    on the forget-class images of the other half. Retrain's value is the reference: a
    model that never saw the class still separates it somewhat from generic features."""
    if not forget_classes:
        raise ValueError("forget_class_probe needs forget classes; an instance request has none")
    gen = torch.Generator().manual_seed(seed)
    fit_idx, score_idx = [], []
    for c in range(dataset.num_classes):
        members = torch.nonzero(dataset.y_test == c).flatten()
        members = members[torch.randperm(len(members), generator=gen)][:2 * per_class]
        half = len(members) // 2
        fit_idx.append(members[:half])
        score_idx.append(members[half:])
    fit_idx, score_idx = torch.cat(fit_idx), torch.cat(score_idx)
    device = device or model_device(model)
    model = model.to(device).eval()

    def features(idx: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            x = dataset.normalize(dataset.x_test[idx].to(device))
            found = model.features(as_input(x)).flatten(1).float().cpu().numpy()
        return np.clip(np.nan_to_num(found, nan=0.0, posinf=1e4, neginf=-1e4), -1e4, 1e4)  # a diverged model

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    probe.fit(features(fit_idx), dataset.y_test[fit_idx].numpy())
    forget = torch.isin(dataset.y_test[score_idx], torch.tensor(list(forget_classes)))
    scored = score_idx[forget]
    return float((probe.predict(features(scored)) == dataset.y_test[scored].numpy()).mean())


def collapsed(table: pd.DataFrame, num_classes: int) -> pd.Series:
    """A model that no longer classifies: test accuracy below twice chance, or any
    non-finite output or weight. Such rows are flagged, never ranked."""
    chance = 1.0 / num_classes
    broken = pd.Series(False, index=table.index)
    for column in ("nonfinite_outputs", "nonfinite_weights"):
        if column in table:
            broken |= table[column].fillna(0) > 0
    return (table["acc_test"] < 2 * chance) | broken
