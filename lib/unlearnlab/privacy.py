"""Per-example forgetting quality from one pool of models: the NeurIPS 2023 unlearning
challenge's epsilon score, KLoM and U-LiRA, computed from the same stored outputs.

**The pool** (:func:`build_pool`). For one forget request, N *originals* trained on the
whole training subset and N *retrains* trained on D_r, every model differing from the
others only in its seed (initialisation and data order; the data are the same). Each
member's logits on D_f, on a held-out sample of D_r and on a sample of test images are
cached, member by member (``runs/cache/pool-member-*``): an interrupted build resumes, a
larger N reuses every member already trained, and a pool of another config is never
reused. Every comparison is at N/2 models per side against the same *reference* half of
the retrains (the second half): the first half of the retrains poses as "unlearned" in
the known answer, and :func:`score_method` runs a method once from each of the first
N/2 originals (cached the same way), so every score is the same test at the same N.

Per example the scores read one number per model: the **logit-scaled confidence**
phi = log(p_y / (1 - p_y)) of the true class y (Carlini et al. 2022's LiRA statistic,
the challenge's choice), computed stably as z_y - logsumexp_{k != y} z_k; and, for
KLoM, the **margin** z_y - max_{k != y} z_k.

**epsilon score** (Triantafillou et al. 2024, the NeurIPS 2023 unlearning challenge;
reference code google-deepmind/unlearning_evaluation). For each forget example, the phi
of the N unlearned and N retrained models are told apart by a family of decision rules:
single thresholds (both directions) and intervals. Each rule gives a false-positive and
a false-negative rate, and

    epsilon = max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR),
    delta = 1e-5,

over the rules where neither rate is 0, capped at 50. The example's epsilon is bucketed
into 0.5-wide bins up to ceil(log(N - 1)); bucket n is worth 2^-n points; the forgetting
score F is the mean over D_f, and the final score F * (RA / RA_retrain) *
(TA / TA_retrain) with RA, TA the mean retain and test accuracies. Deviations: the rules'
thresholds are the cut points between the observed values (an exact sweep) instead of
the reference's fixed grid; two sets that a threshold separates completely score the
cap (every separating rule has both rates 0 and is dropped), and where no rule is left
with both rates above 0 (identical values) epsilon is 0.

**KLoM** (Georgiev, Rinberg et al., "Attribute-to-Delete", ICLR 2025; reference code
RoyRin/data-unlearning-bench): per example, the KL divergence between the histograms of
the margins under unlearned and under retrained models, bins shared over both sets'
range. 0 = the same distribution. The reference bins into 20 and smooths each bin by
1e-5, for 100 + 100 models; with a few dozen, empty bins dominate, so below 100 models
per side the bins are min(20, ceil(sqrt(models))) and each gets half a count (a
deviation; :func:`klom`).

**U-LiRA** (Hayes, Shumailov, Triantafillou, Khalifa, Papernot, "Inexact unlearning
needs more careful evaluations", SaTML 2025). Per example, Gaussians are fitted to phi
under *shadow* unlearned and shadow retrained models; a held-out *target* model (one
unlearned, one retrained, in turns) is called unlearned when its likelihood ratio
favours the unlearned Gaussian. The score is the attack's accuracy over the targets,
0.5 = indistinguishable. Here half of each side of the pool are shadows, the other half
targets. Deep Unlearn's version scores 0/1 correctness; this one scores phi.

Known answers (:func:`known_answers`): retrain against retrain (one half of the
retrains posing as "unlearned") must score as indistinguishable, the original against
retrain as exposed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats

from . import config, data, leaderboard
from .cache import cached
from .config import Preset
from .data import Dataset, ForgetSplit, index_hash
from .experiment import TUNED, build_model, load_preset_data, make_request
from .methods import get_method, run_method
from .models import structure_fingerprint
from .training import fit, predict, progress

#: Seeds of the pool's members: originals POOL_SEED + i, retrains POOL_SEED + RETRAIN_OFFSET + i.
POOL_SEED = 20_000
RETRAIN_OFFSET = 10_000
DELTA = 1e-5
EPSILON_CAP = 50.0
KLOM_BINS = 20
KLOM_SMOOTHING = 1e-5
#: Held-out D_r and test images whose logits each member keeps.
RETAIN_SAMPLE = 500
TEST_SAMPLE = 500
REQUESTS = ("instances", "class")


# --------------------------------------------------------------------------------------
# Per-example statistics


def logit_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """phi = log(p_y / (1 - p_y)) of the true class, computed as z_y - logsumexp of the
    other logits (stable where p_y rounds to 1)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return true - torch.logsumexp(others, dim=1)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """z_y - max_{k != y} z_k (KLoM's statistic)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return true - others.max(dim=1).values


# --------------------------------------------------------------------------------------
# The three scores, on arrays of shape (models, examples)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, *, delta: float = DELTA,
                    cap: float = EPSILON_CAP) -> float:
    """The challenge's epsilon of one example from its statistic under unlearned and
    retrained models: the largest privacy loss any threshold or interval rule shows."""
    u, r = np.sort(np.asarray(unlearned, float)), np.sort(np.asarray(retrained, float))
    if u[0] > r[-1] or r[0] > u[-1]:
        return cap  # a threshold separates the two sets: both its rates are 0
    values = np.unique(np.concatenate([u, r]))
    cuts = np.concatenate([[-np.inf], (values[1:] + values[:-1]) / 2, [np.inf]])
    # share of each side below each cut
    u_below = np.searchsorted(u, cuts) / len(u)
    r_below = np.searchsorted(r, cuts) / len(r)
    # (FPR, FNR) of every rule, "unlearned" the positive call: below a cut, above it,
    # and inside each interval [cut_low, cut_high)
    inside_r = (r_below[None, :] - r_below[:, None])[np.triu_indices(len(cuts), 1)]
    inside_u = (u_below[None, :] - u_below[:, None])[np.triu_indices(len(cuts), 1)]
    fpr = np.concatenate([r_below, 1 - r_below, inside_r])
    fnr = np.concatenate([1 - u_below, u_below, 1 - inside_u])
    usable = (fpr > 0) & (fnr > 0)
    if not usable.any():
        return 0.0
    fpr, fnr = fpr[usable], fnr[usable]
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.maximum(np.log(np.clip(1 - delta - fpr, 1e-300, None)) - np.log(fnr),
                          np.log(np.clip(1 - delta - fnr, 1e-300, None)) - np.log(fpr))
    return float(min(max(loss.max(), 0.0), cap))


def epsilons(unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
    """:func:`example_epsilon` of every example (columns of two (models, examples) arrays)."""
    return np.array([example_epsilon(unlearned[:, j], retrained[:, j]) for j in range(unlearned.shape[1])])


def forgetting_score(eps: np.ndarray, n_models: int) -> float:
    """The challenge's F: epsilon bucketed in 0.5-wide bins up to ceil(log(N - 1)), bucket
    n worth 2^-n points, averaged over the forget set (1 = every example as good as
    retrain, 0 = every example exposed)."""
    top = max(1, math.ceil(math.log(max(n_models - 1, 2))))
    buckets = np.minimum(np.floor(np.asarray(eps) / 0.5), 2 * top).astype(int)
    return float(np.mean(2.0 ** -buckets))


def klom(unlearned: np.ndarray, retrained: np.ndarray, *, bins: int | None = None,
         smoothing: float | None = None) -> np.ndarray:
    """KLoM per example: KL(unlearned margins || retrained margins) over shared bins of
    both sets' range. The reference's 20 bins and 1e-5 smoothing are for 100 + 100
    models; with fewer, empty bins dominate (retrain against retrain at 4 + 4 models
    scores about 10), so by default ``bins`` = min(20, ceil(sqrt(models in all))) and
    ``smoothing`` is 1e-5 from 100 models per side, else half a count per bin."""
    n = min(len(unlearned), len(retrained))
    bins = bins or min(KLOM_BINS, math.ceil(math.sqrt(len(unlearned) + len(retrained))))
    smoothing = smoothing if smoothing is not None else (KLOM_SMOOTHING if n >= 100 else 0.5)
    out = np.empty(unlearned.shape[1])
    for j in range(unlearned.shape[1]):
        u, r = unlearned[:, j], retrained[:, j]
        low, high = min(u.min(), r.min()), max(u.max(), r.max())
        if high <= low:
            out[j] = 0.0
            continue
        edges = np.linspace(low, high, bins + 1)
        p = np.histogram(u, edges)[0] + smoothing
        q = np.histogram(r, edges)[0] + smoothing
        p, q = p / p.sum(), q / q.sum()
        out[j] = float(np.sum(p * np.log(p / q)))
    return out


def ulira(unlearned: np.ndarray, retrained: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """U-LiRA's accuracy per example: half of each side are shadow models (a Gaussian
    fitted to each side), the other half targets scored by the likelihood ratio;
    0.5 = the attack cannot tell unlearned from retrained."""
    rng = np.random.default_rng(seed)
    n = min(len(unlearned), len(retrained))
    if n < 4:
        raise ValueError(f"U-LiRA needs at least 4 models per side (2 shadows, 2 targets), got {n}")
    iu, ir = rng.permutation(len(unlearned)), rng.permutation(len(retrained))
    half = n // 2
    shadow_u, target_u = unlearned[iu[:half]], unlearned[iu[half:n]]
    shadow_r, target_r = retrained[ir[:half]], retrained[ir[half:n]]
    mu_u, sd_u = shadow_u.mean(0), shadow_u.std(0, ddof=1) + 1e-6
    mu_r, sd_r = shadow_r.mean(0), shadow_r.std(0, ddof=1) + 1e-6

    def says_unlearned(x: np.ndarray) -> np.ndarray:
        return stats.norm.logpdf(x, mu_u, sd_u) > stats.norm.logpdf(x, mu_r, sd_r)

    correct = np.concatenate([says_unlearned(target_u), ~says_unlearned(target_r)])
    return correct.mean(0)


@dataclass
class Scores:
    """The three scores of one (unlearned, retrained) comparison: per example and summed
    up. ``final`` is the challenge's final score (F times the accuracy ratios)."""

    epsilon: np.ndarray
    klom: np.ndarray
    ulira: np.ndarray
    forgetting: float
    final: float
    n_models: int

    def summary(self) -> dict[str, float]:
        return {"forgetting_score": self.forgetting, "final_score": self.final,
                "epsilon_mean": float(self.epsilon.mean()), "klom_mean": float(self.klom.mean()),
                "ulira_acc": float(self.ulira.mean()), "n_models": self.n_models}


def score(unlearned: dict[str, np.ndarray], retrained: dict[str, np.ndarray], *, seed: int = 0) -> Scores:
    """All three scores from two sides' :class:`Outputs` arrays (``phi``, ``margin`` on
    D_f, and ``acc_retain``, ``acc_test`` per model)."""
    n = min(len(unlearned["phi"]), len(retrained["phi"]))
    eps = epsilons(unlearned["phi"][:n], retrained["phi"][:n])
    forgetting = forgetting_score(eps, n)
    ratio = (np.mean(unlearned["acc_retain"]) / np.mean(retrained["acc_retain"])
             * np.mean(unlearned["acc_test"]) / np.mean(retrained["acc_test"]))
    return Scores(eps, klom(unlearned["margin"][:n], retrained["margin"][:n]),
                  ulira(unlearned["phi"][:n], retrained["phi"][:n], seed=seed),
                  forgetting, float(forgetting * ratio), n)


# --------------------------------------------------------------------------------------
# The pool


@dataclass
class Pool:
    """A request's pool: its split, the images whose outputs are kept, and per side
    (``original``, ``retrain``, or a method's label) the stacked outputs of its members."""

    preset: Preset
    dataset: Dataset
    split: ForgetSplit
    request: str
    retain_sample: torch.Tensor
    test_sample: torch.Tensor
    sides: dict[str, dict[str, np.ndarray]]
    seconds: dict[str, float]

    @property
    def n(self) -> int:
        return min(len(self.sides["original"]["phi"]), len(self.sides["retrain"]["phi"]))

    @property
    def half(self) -> int:
        """Models per side of every comparison: the second half of the retrains is the
        reference of all of them, the first half poses as "unlearned" in the known answer."""
        return self.n // 2

    def versus_retrain(self, name: str, members: np.ndarray | None = None, *, seed: int = 0) -> Scores:
        """``name``'s models (``members`` among the first :attr:`half`, default all of
        them) against as many of the reference retrains (the same positions in the
        second half)."""
        members = np.arange(self.half) if members is None else np.asarray(members)
        if len(self.sides[name]["phi"]) < self.half:
            raise ValueError(f"{name} has {len(self.sides[name]['phi'])} models; the pool compares {self.half}")
        reference = {k: v[self.half + members] for k, v in self.sides["retrain"].items()}
        return score(self.side(name, members=members), reference, seed=seed)

    def side(self, name: str, n: int | None = None, members: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The outputs of ``name``'s first ``n`` members (or of ``members``)."""
        found = self.sides[name]
        pick = members if members is not None else slice(0, n)
        return {k: v[pick] for k, v in found.items()}


def pool_preset(preset: Preset) -> Preset:
    """The regime of the pool: the leaderboard's memorising one (notebook 03's)."""
    return config.memorising(preset)


def pool_request(dataset: Dataset, request: str, *, seed: int = 0) -> ForgetSplit:
    """``instances``: the leaderboard's random 10 % of the training subset; ``class``:
    the first reportable class."""
    if request == "instances":
        return leaderboard.instance_request(dataset, leaderboard.INSTANCE_SHARE, seed=seed)
    if request == "class":
        return data.class_split(dataset, [leaderboard.reportable_classes(dataset.num_classes, 3)[0]])
    raise ValueError(f"request must be one of {REQUESTS}, got {request!r}")


def _samples(dataset: Dataset, split: ForgetSplit, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    retain = split.retain_indices[torch.randperm(len(split.retain_indices), generator=gen)[:RETAIN_SAMPLE]]
    test = torch.randperm(len(dataset.y_test), generator=gen)[:TEST_SAMPLE]
    return retain.sort().values, test.sort().values


def _outputs(model, dataset: Dataset, split: ForgetSplit, retain: torch.Tensor, test: torch.Tensor) -> dict:
    """What a member keeps: its logits on D_f, the D_r sample and the test sample."""
    normalize = dataset.normalize
    return {"forget": predict(model, dataset.x_train[split.forget_indices], normalize=normalize),
            "retain": predict(model, dataset.x_train[retain], normalize=normalize),
            "test": predict(model, dataset.x_test[test], normalize=normalize)}


_STRUCTURES: dict[tuple, str] = {}


def _structure(preset: Preset, dataset: Dataset) -> str:
    """The model's structure fingerprint, built once per (model, options, dataset)."""
    key = (preset.model, repr(preset.model_options), dataset.fingerprint)
    if key not in _STRUCTURES:
        _STRUCTURES[key] = structure_fingerprint(build_model(preset, dataset, seed=0))
    return _STRUCTURES[key]


def _key(preset: Preset, dataset: Dataset, split: ForgetSplit, role: str, seed: int, **extra) -> dict:
    return {"dataset": dataset.fingerprint, "model": preset.model, "options": preset.model_options,
            "structure": _structure(preset, dataset), "train": preset.train, "role": role, "seed": seed,
            "forget": index_hash(split.forget_indices), "samples": (RETAIN_SAMPLE, TEST_SAMPLE),
            **extra}


def _member(preset: Preset, dataset: Dataset, split: ForgetSplit, role: str, seed: int,
            retain: torch.Tensor, test: torch.Tensor) -> dict:
    """One pool member (an original on all of D_train, or a retrain on D_r), trained once
    and cached with its state and outputs."""
    def train() -> dict:
        model = build_model(preset, dataset, seed=seed)
        keep = torch.arange(len(dataset.y_train)) if role == "original" else split.retain_indices
        start = time.perf_counter()
        fit(model, dataset.x_train[keep], dataset.y_train[keep], preset.train, normalize=dataset.normalize,
            seed=seed, desc=f"{role} {seed}")
        return {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "seconds": time.perf_counter() - start,
                **_outputs(model.eval(), dataset, split, retain, test)}

    return cached("pool-member", _key(preset, dataset, split, role, seed), train)


def _stack(entries: list[dict], dataset: Dataset, split: ForgetSplit, retain: torch.Tensor,
           test: torch.Tensor) -> dict[str, np.ndarray]:
    yf = dataset.y_train[split.forget_indices]
    forget = torch.stack([e["forget"] for e in entries])
    return {
        "phi": torch.stack([logit_confidence(f, yf) for f in forget]).numpy(),
        "margin": torch.stack([margin(f, yf) for f in forget]).numpy(),
        "acc_forget": np.array([float((f.argmax(1) == yf).float().mean()) for f in forget]),
        "acc_retain": np.array([float((e["retain"].argmax(1) == dataset.y_train[retain]).float().mean())
                                for e in entries]),
        "acc_test": np.array([float((e["test"].argmax(1) == dataset.y_test[test]).float().mean())
                              for e in entries]),
    }


def build_pool(preset: Preset, n: int, *, request: str = "instances") -> Pool:
    """The pool of ``n`` originals and ``n`` retrains for ``request`` at ``preset``'s
    memorising regime (each member cached; a larger ``n`` later reuses them)."""
    if n < 4:
        raise ValueError(f"A pool needs at least 4 models per side (U-LiRA: 2 shadows, 2 targets), got {n}; "
                         f"its known answers split the retrains in halves and need 8")
    regime = pool_preset(preset)
    dataset = load_preset_data(regime)
    split = pool_request(dataset, request, seed=preset.seed)
    retain, test = _samples(dataset, split, preset.seed)
    sides, seconds = {}, {}
    for role, offset in (("original", 0), ("retrain", RETRAIN_OFFSET)):
        entries = [_member(regime, dataset, split, role, POOL_SEED + offset + i, retain, test)
                   for i in progress(range(n), desc=f"pool {role}s", unit="model")]
        sides[role] = _stack(entries, dataset, split, retain, test)
        seconds[role] = float(sum(e["seconds"] for e in entries))
    return Pool(regime, dataset, split, request, retain, test, sides, seconds)


def originals(pool: Pool, n: int | None = None) -> list[torch.nn.Module]:
    """The pool's original models (the first ``n``), loaded from the cache."""
    models = []
    for i in range(n or pool.n):
        entry = _member(pool.preset, pool.dataset, pool.split, "original", POOL_SEED + i, pool.retain_sample,
                        pool.test_sample)
        model = build_model(pool.preset, pool.dataset, seed=0)
        model.load_state_dict(entry["state"])
        models.append(model.eval())
    return models


def score_method(pool: Pool, method: str, *, settings: dict | None = None, label: str | None = None,
                 n: int | None = None) -> dict[str, np.ndarray]:
    """Run ``method`` once from each of the pool's first ``n`` originals (default
    :attr:`Pool.half`, the originals every comparison uses; request seed = the member's
    index), cache each run's outputs, and add them to the pool as side ``label``
    (default: the method's name)."""
    label = label or method
    kwargs = dict(settings if settings is not None else pool.preset.method_kwargs(method))
    spec = get_method(method)
    if not spec.accepts(pool.split):
        raise ValueError(f"{method} does not handle the {pool.split.scenario} request of this pool")
    resolved = {**spec.defaults, **kwargs}
    entries = []
    models = originals(pool, n or pool.half)
    for i in progress(range(len(models)), desc=f"score {label}", unit="run"):
        seeded = dataclasses.replace(pool.preset, seed=POOL_SEED + i)

        def run(i: int = i, seeded: Preset = seeded) -> dict:
            start = time.perf_counter()
            result = run_method(method, models[i], make_request(seeded, pool.dataset, pool.split), **kwargs)
            return {"seconds": time.perf_counter() - start,
                    **_outputs(result.model, pool.dataset, pool.split, pool.retain_sample, pool.test_sample)}

        key = _key(pool.preset, pool.dataset, pool.split, "unlearned", POOL_SEED + i, method=method,
                   settings=resolved)
        entries.append(cached("pool-member", key, run))
    pool.sides[label] = _stack(entries, pool.dataset, pool.split, pool.retain_sample, pool.test_sample)
    pool.seconds[label] = float(sum(e["seconds"] for e in entries))
    return pool.sides[label]


# --------------------------------------------------------------------------------------
# Reading a pool


def score_methods(pool: Pool, names: Sequence[str], *, tuned: dict[str, dict] | None = None) -> list[str]:
    """:func:`score_method` for each method at its default and, where ``tuned`` holds a
    setting for it (:func:`unlearnlab.tuning.tuned_settings` of the pool's scenario), at
    that setting as ``"<method> (tuned)"``; the labels scored, in order."""
    labels = []
    for name in names:
        score_method(pool, name)
        labels.append(name)
        if name in (tuned or {}):
            score_method(pool, name, settings=tuned[name], label=name + TUNED)
            labels.append(name + TUNED)
    return labels


def known_answers(pool: Pool, *, seed: int = 0) -> pd.DataFrame:
    """The two cases whose answer is known, at :attr:`Pool.half` models per side against
    the reference half of the retrains: the other half of the retrains (indistinguishable)
    and the originals (exposed)."""
    n = pool.n
    half = n // 2
    if half < 4:
        raise ValueError(f"Retrain against retrain splits the {n} retrains in halves of {half}: U-LiRA needs 4 "
                         f"per side, so build a pool of at least 8")
    retrain = pool.side("retrain", n)
    first = {k: v[:half] for k, v in retrain.items()}
    second = {k: v[half:2 * half] for k, v in retrain.items()}
    rows = [{"case": "retrain vs retrain (halves)", **score(first, second, seed=seed).summary()},
            {"case": "original vs retrain", **pool.versus_retrain("original", seed=seed).summary()}]
    return pd.DataFrame(rows)


def method_table(pool: Pool, labels: Sequence[str], *, boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per side in ``labels``: the three scores at :attr:`Pool.half` models against the
    reference retrains, with a bootstrap interval over the forget examples (2.5-97.5 %),
    and the N it was scored at."""
    rows = []
    rng = np.random.default_rng(seed)
    n = pool.half
    for label in labels:
        side = pool.sides[label]
        found = pool.versus_retrain(label, seed=seed)
        m = len(found.epsilon)
        resamples = [rng.integers(0, m, m) for _ in range(boot)]
        f_boot = [forgetting_score(found.epsilon[i], n) for i in resamples]
        k_boot = [found.klom[i].mean() for i in resamples]
        u_boot = [found.ulira[i].mean() for i in resamples]
        rows.append({"method": label, **found.summary(),
                     "forgetting_low": np.percentile(f_boot, 2.5), "forgetting_high": np.percentile(f_boot, 97.5),
                     "klom_low": np.percentile(k_boot, 2.5), "klom_high": np.percentile(k_boot, 97.5),
                     "ulira_low": np.percentile(u_boot, 2.5), "ulira_high": np.percentile(u_boot, 97.5),
                     "acc_forget": float(side["acc_forget"][:n].mean()),
                     "acc_test": float(side["acc_test"][:n].mean()),
                     "seconds": pool.seconds.get(label, float("nan"))})
    return pd.DataFrame(rows)


def per_example(pool: Pool, label: str) -> pd.DataFrame:
    """Per forget example of side ``label``: its index in D_train, epsilon, KLoM and
    U-LiRA accuracy against the retrains."""
    found = pool.versus_retrain(label)
    return pd.DataFrame({"index": pool.split.forget_indices.numpy(), "epsilon": found.epsilon,
                         "klom": found.klom, "ulira": found.ulira}).sort_values("epsilon", ascending=False)


def rank_fidelity(pool: Pool, labels: Sequence[str], sizes: Sequence[int], *, draws: int = 10,
                  seed: int = 0) -> pd.DataFrame:
    """Cost against fidelity: for each number N of models per side in ``sizes`` (at most
    :attr:`Pool.half`), the Kendall tau between the ranking of ``labels`` by the final
    score from N random members and from all of them, over ``draws`` random subsets
    (mean and 2.5-97.5 % interval)."""
    rng = np.random.default_rng(seed)
    full = [pool.versus_retrain(label, seed=seed).final for label in labels]
    rows = []
    for size in sizes:
        if size > pool.half:
            continue
        taus = []
        for _ in range(draws if size < pool.half else 1):
            pick = np.sort(rng.choice(pool.half, size, replace=False))
            finals = [pool.versus_retrain(label, pick, seed=seed).final for label in labels]
            taus.append(stats.kendalltau(finals, full).statistic)
        taus = np.nan_to_num(np.array(taus, float), nan=0.0)
        rows.append({"n": size, "tau": float(taus.mean()), "tau_low": float(np.percentile(taus, 2.5)),
                     "tau_high": float(np.percentile(taus, 97.5)), "draws": len(taus)})
    return pd.DataFrame(rows)


#: Originals (and retrains) of a preset's default pool; every comparison uses half of
#: each. cpu: 32 + 32 memorising trainings of about 26 s each (notebook 03's original)
#: are about 28 minutes; smoke: a quick check (6 models per comparison side).
POOL_SIZES = {"smoke": 12, "cpu": 32, "deep": 16, "gpu": 64, "paper": 128}
#: The fidelity a cheaper pool must reach: Kendall tau of the ranking against the full pool's.
TAU_TARGET = 0.9
#: D_f accuracy within this of retrain's "matches in aggregate" (the leaderboard's threshold).
AGGREGATE_THRESHOLD = 0.05


def verdicts(table: pd.DataFrame, known: pd.DataFrame, retrain_acc_forget: float) -> list[str]:
    """One line per scored method: indistinguishable from retrain per example (its
    forgetting score's interval reaches the score of retrain against retrain, the best
    this pool can show), only in aggregate (D_f accuracy within 0.05 of retrain's but not
    per example), or neither. Where the originals themselves reach that score, the pool
    cannot express forgetting: one UNTESTABLE HERE line instead."""
    best = float(known.set_index("case").loc["retrain vs retrain (halves)", "forgetting_score"])
    lines = []
    by = table.set_index("method")
    if "original" in by.index and by.loc["original", "forgetting_high"] >= best:
        return [f"UNTESTABLE HERE: the originals themselves are indistinguishable from retrain per example "
                f"(forgetting score {by.loc['original', 'forgetting_score']:.3f}, interval up to "
                f"{by.loc['original', 'forgetting_high']:.3f}, against {best:.3f} for retrain vs retrain): the "
                f"pool cannot tell a model that trained on D_f from one that did not, so no method's score says "
                f"more"]
    for _, row in table.iterrows():
        per_example = row.forgetting_high >= best
        aggregate = abs(row.acc_forget - retrain_acc_forget) <= AGGREGATE_THRESHOLD
        if per_example:
            verdict = "indistinguishable from retrain per example"
        elif aggregate:
            verdict = "matches retrain only in aggregate (D_f accuracy), not per example"
        else:
            verdict = "distinguishable from retrain, per example and in aggregate"
        lines.append(f"{row.method}: {verdict} (forgetting score {row.forgetting_score:.3f} "
                     f"[{row.forgetting_low:.3f}, {row.forgetting_high:.3f}] against {best:.3f} for retrain "
                     f"vs retrain; U-LiRA {row.ulira_acc:.3f}; KLoM {row.klom_mean:.3f}; N = {int(row.n_models)})")
    return lines


def smallest_faithful_n(fidelity: pd.DataFrame, target: float = TAU_TARGET) -> int | None:
    """The smallest N whose mean Kendall tau reaches ``target`` (None: none does)."""
    found = fidelity[fidelity.tau >= target]
    return int(found.n.min()) if len(found) else None
