"""The papers' claims, declared once: what each paper says, how it is tested here, and
what the regime must show before a test means anything.

A :class:`Claim` holds the paper's statement, the *checks* that decide it (a measured
quantity, a comparison, a threshold and the threshold's source: the paper's number, or
ours with a one-line reason) and its *preconditions* (what the regime must show for the
claim to be testable at all: a model with stages, a retain subset smaller than D_r, a
read-out off its floor). A notebook measures the quantities and calls :func:`judge`:

- a failed precondition makes the verdict ``UNTESTABLE HERE``, naming the precondition
  and its number; such a claim never HOLDS or DOES NOT HOLD;
- otherwise ``HOLDS`` when every check passes (mode ``all``), ``DOES NOT HOLD`` when one
  fails; a claim of independent parts (mode ``each part``) is ``MIXED`` when some parts
  pass and others fail.

:func:`record` writes a run's verdicts to ``results/<notebook>-claims.json`` at full
precision; :mod:`unlearnlab.report` reads those files (never printed output) and
:func:`markdown` writes ``docs/claims.md`` from the declarations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import paths

#: The comparisons a check or precondition may make.
OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
STATUSES = ("HOLDS", "DOES NOT HOLD", "MIXED", "UNTESTABLE HERE")
CLAIMS_FORMAT = 1


@dataclass(frozen=True)
class Threshold:
    """``key``: the name a notebook measures under; ``quantity``: what the number is;
    ``value op threshold`` must hold; ``source``: ``paper: ...`` or ``ours: ...``."""

    key: str
    quantity: str
    op: str
    threshold: float
    source: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}, got {self.op!r}")
        if not self.source.startswith(("paper:", "ours:", "reference code:")):
            raise ValueError(f"a threshold's source starts with 'paper:', 'reference code:' or "
                             f"'ours:', got {self.source!r}")

    def clears(self, value: float) -> bool:
        """Whether ``value`` clears the threshold; NaN never does."""
        return not math.isnan(value) and bool(OPS[self.op](value, self.threshold))


@dataclass(frozen=True)
class Claim:
    """One claim of one paper, as tested here."""

    id: str
    notebook: str
    paper: str
    statement: str
    test: str
    checks: tuple[Threshold, ...]
    preconditions: tuple[Threshold, ...] = ()
    mode: str = "all"

    def __post_init__(self) -> None:
        if self.mode not in ("all", "each part"):
            raise ValueError(f"mode must be 'all' or 'each part', got {self.mode!r}")
        keys = [t.key for t in self.checks + self.preconditions]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.id}: duplicate keys {keys}")


@dataclass
class Verdict:
    """What one run says about one claim: its status, every check and precondition with
    its measured value, and the evidence line of numbers the notebook gives."""

    claim: str
    statement: str
    status: str
    checks: list[dict] = field(default_factory=list)
    preconditions: list[dict] = field(default_factory=list)
    evidence: str = ""
    mode: str = "all"

    def failed_preconditions(self) -> list[dict]:
        return [p for p in self.preconditions if not p["met"]]

    def __str__(self) -> str:
        lines = [f"[{self.status}] {self.claim} {self.statement}"]
        for p in self.failed_preconditions():
            lines.append(f"    precondition not met: {p['quantity']} = {p['value']:.4g} "
                         f"(needs {p['op']} {p['threshold']:g})")
        if self.evidence:
            lines.append(f"    {self.evidence}")
        if self.checks:
            lines.append(f"    checks ({self.mode}): " + "; ".join(
                f"{c['quantity']} = {c['value']:.4g} (needs {c['op']} {c['threshold']:g})"
                for c in self.checks))
        return "\n".join(lines)


def _row(t: Threshold, value: float, passed_name: str) -> dict:
    return {**asdict(t), "value": float(value), passed_name: t.clears(float(value))}


def judge(claim_id: str, measured: Mapping[str, float], evidence: str = "") -> Verdict:
    """The verdict on ``claim_id`` from the ``measured`` value of each of its checks and
    preconditions (by key; a missing one is an error, so a notebook cannot skip one)."""
    claim = CLAIMS[claim_id]
    needed = [t.key for t in claim.checks + claim.preconditions]
    missing = [k for k in needed if k not in measured]
    extra = [k for k in measured if k not in needed]
    if missing or extra:
        raise ValueError(f"{claim_id}: missing measurements {missing}, unknown {extra}; "
                         f"it needs {needed}")
    preconditions = [_row(t, measured[t.key], "met") for t in claim.preconditions]
    checks = [_row(t, measured[t.key], "passes") for t in claim.checks]
    if not all(p["met"] for p in preconditions):
        status = "UNTESTABLE HERE"
    else:
        passed = [c["passes"] for c in checks]
        if all(passed):
            status = "HOLDS"
        elif claim.mode == "each part" and any(passed):
            status = "MIXED"
        else:
            status = "DOES NOT HOLD"
    return Verdict(claim_id, claim.statement, status, checks, preconditions, evidence, claim.mode)


def claims_path(notebook: str, preset: str) -> Path:
    """``results/<notebook>-claims.json`` beside the notebook's results table."""
    return paths.results_path(notebook, preset).with_name(f"{notebook}-claims.json")


def record(notebook: str, preset: str, verdicts: list[Verdict], *, seed: int) -> Path:
    """Write a run's verdicts (every number at full precision) for the report."""
    path = claims_path(notebook, preset)
    payload = {"format": CLAIMS_FORMAT, "notebook": notebook, "preset": preset, "seed": seed,
               "commit": paths.commit_stamp(), "claims": [asdict(v) for v in verdicts]}
    paths.atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=True) + "\n")
    return path


def load(path: Path) -> list[Verdict]:
    """The verdicts a run recorded."""
    payload = json.loads(Path(path).read_text())
    return [Verdict(**v) for v in payload["claims"]]


def of_notebook(notebook: str) -> list[Claim]:
    return [c for c in CLAIMS.values() if c.notebook == notebook]


# --------------------------------------------------------------------------------------
# The declarations. Shared thresholds first, each with its reason.

_GAP = ("ours: 0.05 is about the spread of retrain's own accuracies over classes and seeds "
        "at cpu; the papers report gaps to retrain without a tolerance")
_TREND = "ours: a trend needs at least three points"
_FORGET_GAP = Threshold("forget_gap", "forget-class accuracy gap to retrain, absolute", "<=", 0.05, _GAP)
_LEARNED = Threshold("original_forget", "original's forget-class accuracy", ">=", 0.5,
                     "ours: a class the original never learned cannot be forgotten")
_OTHER_GAP = Threshold("other_gap", "other-class test accuracy gap to retrain", ">=", -0.05, _GAP)

P1, P2, P3, P4 = ("01-relabel-vs-reset", "02-lrp-path-perturbation",
                  "03-instance-wise-unlearning", "04-unsir-impair-repair")

_DECLARED = [
    # ---------------------------------------------------------------- P1 Liao & Lin 2024
    Claim(
        "P1.1", P1, "Liao & Lin 2024",
        "The weight change grows with the number of removed classes.",
        "Mean relative weight change of the conv and linear layers per update step, for each "
        "method and each forget-set size: per step, because relabel trains on D_f (which "
        "grows with the classes removed) while reset, prune and finetune train on D_r (which "
        "shrinks), so total change would measure step counts. Each method's change per step "
        "must not fall as more classes are removed.",
        checks=tuple(
            Threshold(f"falls_{m}", f"{label}: falls in change per step between successive sizes",
                      "<=", 0, "ours: 'grows' read as never falling")
            for m, label in (("relabel", "relabel"), ("reset_lower_lr", "reset (rest at lr/10)"),
                             ("prune", "prune"), ("finetune", "finetune"))),
        preconditions=(Threshold("sizes", "forget-set sizes tested", ">=", 3, _TREND),),
        mode="each part"),
    Claim(
        "P1.2", P1, "Liao & Lin 2024",
        "Label reassignment's changes concentrate in the last stage and the FC layer.",
        "On the relabelled model, two read-outs, both reported: the mean relative weight "
        "change of the last convolutional stage and everything after it over that of the "
        "earlier stages, and the same ratio for the change of each stage's output "
        "(1 - linear CKA to the original on retain images): weight change alone tracks each "
        "layer's effective learning rate under BatchNorm.",
        checks=(
            Threshold("weight_ratio", "relabel: weight change, last stage + head over earlier stages",
                      ">=", 2, "ours: 'concentrate' read as at least twice the earlier stages'"),
            Threshold("function_ratio", "relabel: 1 - CKA, last stage + head over earlier stages",
                      ">=", 2, "ours: the same reading as for the weights"),
        ),
        preconditions=(Threshold("conv_stages", "convolutional stages of the model", ">=", 4,
                                 "paper: ResNet-50's four stages; 'last stage' needs stages"),)),
    Claim(
        "P1.3", P1, "Liao & Lin 2024",
        "Weight resetting moves more layers than label reassignment, the change decreasing "
        "from later to earlier layers.",
        "Reset with the rest at lr/10, over the layers it did not re-initialise (a "
        "re-initialised layer's change is set by the new weights' scale). 'Moves' means a "
        "relative change above relabel's median over those layers, a threshold relabel cannot "
        "saturate. The trend is Spearman's rank correlation of change with depth. EU-k "
        "(rest frozen) is left out: its other layers cannot move by construction.",
        checks=(
            Threshold("extra_layers_moved", "layers moved, reset minus relabel", ">=", 0,
                      "paper: 'moves more layers' (at least as many, ties allowed)"),
            Threshold("depth_correlation", "reset: Spearman correlation of change with depth",
                      ">=", 0.5, "ours: a clear increase towards the output, not every pair"),
        ),
        preconditions=(Threshold("kept_layers", "conv/linear layers not re-initialised", ">=", 3,
                                 _TREND),)),
    Claim(
        "P1.4", P1, "Liao & Lin 2024",
        "With fewer than 10 % of the classes removed, feature extraction barely changes.",
        "First-stage linear CKA to the original on retain images, the lowest over the "
        "methods, at the smallest removed share (at most 10 % of the classes). Tested against "
        "its contrast: the largest share removed (70 %) must change the first stage "
        "measurably, or CKA cannot tell change from no change here.",
        checks=(Threshold("cka_few", "lowest first-stage CKA, fewest classes removed", ">=", 0.9,
                          "ours: 'barely changes' read as CKA >= 0.9 (1 = same representation)"),),
        preconditions=(
            Threshold("share_few", "smallest share of the classes removed", "<=", 0.1,
                      "paper: 'fewer than 10 %'"),
            Threshold("cka_contrast", "lowest first-stage CKA, fewest minus most classes removed",
                      ">=", 0.02, "ours: the read-out must move where the claim implies change"),
        )),
    # ------------------------------------------------------------ P2 Chang et al. 2024
    Claim(
        "P2.1", P2, "Chang et al. 2024",
        "The unlearned model is comparable to retrain: the forget class is forgotten, the "
        "other classes are kept.",
        "At the N chosen on validation classes by the paper's criterion (forget accuracy "
        "<= 0.05, then the highest accuracy on the other classes), judged on the other "
        "classes: forget-class train accuracy and other-class test accuracy against retrain.",
        checks=(
            _FORGET_GAP,
            _OTHER_GAP,
        ),
        preconditions=(
            Threshold("held_out_classes", "classes judged (the other half chose N)", ">=", 3,
                      "ours: a mean over classes needs several"),
            _LEARNED,
        ),
        mode="each part"),
    Claim(
        "P2.1r", P2, "Chang et al. 2024",
        "Comparable to retrain at the reference code's N (the share of units it cuts for "
        "this model family).",
        "The same two checks at the reference's N over every class.",
        checks=(
            _FORGET_GAP,
            _OTHER_GAP,
        ),
        preconditions=(_LEARNED,),
        mode="each part"),
    Claim(
        "P2.2", P2, "Chang et al. 2024", "It is much faster than retrain.",
        "Wall-time speed-up of the edit over retrain, mean over classes.",
        checks=(Threshold("speedup", "speed-up over retrain", ">=", 10,
                          "paper: MNIST 0.9 s vs 29 s (32x); ours: 10x is 'much faster'"),)),
    Claim(
        "P2.3", P2, "Chang et al. 2024", "It is zero-shot: no training sample is read.",
        "The request refuses every accessor the method did not declare; counted are the "
        "accessors of training data the method used.",
        checks=(Threshold("training_reads", "training-data accessors used", "<=", 0,
                          "paper: zero-shot"),)),
    Claim(
        "P2.4", P2, "Chang et al. 2024",
        "Adding noise to the same weights instead of zeroing them wrecks the other classes.",
        "Other-class test accuracy of the better noise baseline (Gaussian or Laplace) minus "
        "zeroing's, at the paper's noise scale 1.0 and at each weight tensor's own standard "
        "deviation (a scale 1.0 destroys any network whose weights are ~0.05, so the paper's "
        "scale alone cannot tell the edit from the noise).",
        checks=(
            Threshold("noise_paper", "noise of scale 1.0: other-class accuracy minus zeroing's",
                      "<", -0.1, "paper: noise leaves 9 % on CIFAR-100; ours: 0.1 below zeroing"),
            Threshold("noise_std", "noise at the tensor's std: other-class accuracy minus zeroing's",
                      "<", -0.1, "ours: the same threshold at a scale that does not destroy by size"),
        ),
        mode="each part"),
    Claim(
        "P2.5", P2, "beyond Chang et al. 2024",
        "Cutting only the weights from the selected units to the forget class keeps the other "
        "classes better than the paper's edit, and still forgets.",
        "The paper's edit against the outgoing-only edit, mean over every class.",
        checks=(
            Threshold("kept_gain", "other-class test accuracy, outgoing only minus the paper's edit",
                      ">", 0.02, "ours: more than the rounding of a 5,000-image evaluation"),
            Threshold("forget_loss", "forget accuracy, outgoing only minus the paper's edit",
                      "<=", 0.05, _GAP),
        ),
        mode="each part"),
    Claim(
        "P2.6", P2, "beyond Chang et al. 2024",
        "Adding the last convolutional layer's channels to the edit (multi-layer mode) "
        "forgets more without costing the other classes.",
        "Multi-layer mode (relevance of the last conv layer's channels, the same k and N "
        "shares) against the last-layer edit, mean over every class.",
        checks=(
            Threshold("forget_gain", "forget accuracy, multi-layer minus last layer", "<", -0.02,
                      "ours: more than the rounding of the evaluation"),
            Threshold("kept_loss", "other-class test accuracy, multi-layer minus last layer", ">=", -0.02,
                      "ours: the same margin"),
        ),
        preconditions=(Threshold("room", "forget accuracy left by the last-layer edit", ">", 0.02,
                                 "ours: at the floor, forgetting more cannot show"),)),
    # -------------------------------------------------------------- P3 Cha et al. 2024
    Claim(
        "P3.1", P3, "Cha et al. 2024",
        "With only the model and D_f, every sample of a randomly drawn D_f is misclassified "
        "while accuracy on D_r and the test set is kept.",
        "The full method at each k: D_f accuracy reaches 0 before the step cap, and test "
        "accuracy stays within 0.05 of the original's (a model that collapsed has broken, not "
        "forgotten). The memorisation gap is reported beside it as context.",
        checks=(
            Threshold("df_accuracy", "highest D_f accuracy over k", "<=", 0, "paper: success = 0 % on D_f"),
            Threshold("capped", "k that stopped at the step cap", "<=", 0, "paper: stop when D_f reaches 0"),
            Threshold("test_drop", "largest test-accuracy drop from the original over k", "<=", 0.05,
                      "ours: keeping test accuracy read as within 0.05 of the original's"),
        ),
        preconditions=(Threshold("original_df", "original's D_f accuracy (lowest over k)", ">", 0,
                                 "ours: a D_f already misclassified needs no unlearning"),)),
    Claim(
        "P3.2", P3, "Cha et al. 2024",
        "Adversarial examples and weight importance keep D_r and test accuracy better than "
        "plain NegGrad.",
        "Test accuracy of the full method minus NegGrad's at matched forgetting: where each "
        "first brings D_f accuracy down to 50 % and to 25 % of the original's (each run "
        "publishes its model at those points), mean over every k and point both reached. "
        "Comparing only where both reached 0 % would leave the claim untested whenever one "
        "stops at the step cap.",
        checks=(Threshold("test_gain", "test accuracy at matched D_f accuracy, full minus NegGrad", ">", 0.01,
                          "ours: more than the rounding of a 2,000-image evaluation"),),
        preconditions=(Threshold("compared", "(k, point) pairs both runs reached", ">=", 1,
                                 "ours: at least one like-for-like comparison"),)),
    Claim(
        "P3.3", P3, "Cha et al. 2024",
        "It works for continual requests: several requests one after another keep the model "
        "usable and every request forgotten.",
        "After the last of the successive requests: test accuracy against the original's, "
        "and D_f accuracy over all requests.",
        checks=(
            Threshold("test_drop", "test-accuracy drop from the original after the requests",
                      "<=", 0.05, "ours: usable read as within 0.05 of the original"),
            Threshold("df_accuracy", "D_f accuracy after the requests", "<=", 0,
                      "paper: success = 0 % on D_f"),
        )),
    # ------------------------------------------------------------ P4 Tarun et al. 2023
    Claim(
        "P4.1", P4, "Tarun et al. 2023",
        "Very few update steps suffice: one impair and one repair epoch over a small retain "
        "subset forget a class about as well as retrain.",
        "UNSIR's steps over retrain's, and the forget and other-class gaps to retrain, mean "
        "over classes. Needs a retrain that converges (else its step count is the preset's "
        "choice) and a retain subset smaller than D_r (else the subset is not small).",
        checks=(
            Threshold("step_ratio", "UNSIR's steps over retrain's", "<", 0.2,
                      "ours: 'very few' read as under a fifth"),
            Threshold("forget_gap", "forget accuracy gap to retrain, absolute", "<=", 0.05, _GAP),
            _OTHER_GAP,
        ),
        preconditions=(
            Threshold("retrain_fit", "retrain's accuracy on D_r", ">=", 0.99,
                      "ours: a converged retrain fits its training set, the papers' regime"),
            Threshold("subset_share", "retain subset over D_r", "<", 1.0,
                      "paper: a small subset of D_r"),
        )),
    Claim(
        "P4.2", P4, "Tarun et al. 2023",
        "Forgetting several classes takes about as many steps as forgetting one.",
        "Steps at the largest forget-set size over steps at one class, with the forgetting "
        "achieved at that size (D_f accuracy against retrain's).",
        checks=(
            Threshold("step_growth", "steps, most classes over one class", "<=", 1.5,
                      "ours: 'about as many' read as at most 1.5x"),
            Threshold("forget_gap", "D_f accuracy gap to retrain at the most classes", "<=", 0.05, _GAP),
        )),
    Claim(
        "P4.3", P4, "Tarun et al. 2023",
        "Repair regains the retain accuracy that impair costs.",
        "Other-class test accuracy after impair, after repair and of retrain, mean over classes.",
        checks=(
            Threshold("regained", "other-class test accuracy, after repair minus after impair", ">", 0,
                      "paper: repair restores"),
            _OTHER_GAP,
        ),
        preconditions=(Threshold("impair_cost", "other-class test accuracy lost in impair", ">=", 0.02,
                                 "ours: impair must cost something for repair to regain it"),)),
    Claim(
        "P4.4", P4, "Tarun et al. 2023",
        "The noise does the forgetting: impair with the error-maximising noise forgets more "
        "than impair on the retain subset alone.",
        "D_f accuracy after impair, without noise minus with, at impair learning rates 2e-2 "
        "(the paper's), 2e-3 and 2e-4, mean over the rates where either arm is off its floor "
        "(above 0.02) and off its ceiling (below the original's minus 0.02).",
        checks=(Threshold("noise_gain", "D_f accuracy after impair, without noise minus with", ">", 0.05,
                          "ours: more than the spread over classes of one arm"),),
        preconditions=(Threshold("rates_informative", "impair rates where the read-out is off its floor",
                                 ">=", 1, "ours: at the floor both arms read 0 and nothing is compared"),)),
]



def _tuned(claim_id: str, setting: str) -> Claim:
    """The same claim judged on the equal-budget tuned setting (``make tune``): a claim that
    fails at the paper's setting is a finding only once it fails at a tuned one too."""
    claim = next(c for c in _DECLARED if c.id == claim_id)
    return dataclasses.replace(claim, id=f"{claim_id}t", statement=f"{claim.statement} (tuned {setting})",
                               test=f"{claim.test} At the setting equal-budget tuning chose.")


_DECLARED += [_tuned("P3.1", "lr and importance weight"), _tuned("P4.1", "rates and noise weight")]

CLAIMS: dict[str, Claim] = {c.id: c for c in _DECLARED}


def markdown() -> str:
    """``docs/claims.md``: every claim with its test, checks, thresholds and sources."""
    parts = ["# The claims tested, and what each needs\n",
             "Generated from `unlearnlab.claims` by `make report`; edit the declarations, not "
             "this file. A verdict is `UNTESTABLE HERE` when a precondition fails (the regime "
             "cannot express the claim), and never HOLDS or DOES NOT HOLD then. Mode `all`: "
             "every check must pass; `each part`: independent parts, MIXED when some pass.\n"]
    for claim in CLAIMS.values():
        parts.append(f"## {claim.id} ({claim.paper}, notebook {claim.notebook[:2]})\n")
        parts.append(f"**Claim.** {claim.statement}\n")
        parts.append(f"**Test.** {claim.test}\n")
        rows = ["| | quantity | needs | source |", "|:--|:--|:--|:--|"]
        rows += [f"| check | {t.quantity} | {t.op} {t.threshold:g} | {t.source} |" for t in claim.checks]
        rows += [f"| precondition | {t.quantity} | {t.op} {t.threshold:g} | {t.source} |"
                 for t in claim.preconditions]
        parts.append("\n".join(rows) + f"\n\nMode: `{claim.mode}`.\n")
    return "\n".join(parts)
