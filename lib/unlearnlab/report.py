"""Results text generated from the runs, never typed: ``python -m unlearnlab.report``.

Reads the executed notebooks of a preset (``runs/<preset>/NN-*.ipynb``: papermill's
recorded duration, the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` and the
verdict lines) and the leaderboard's tables, then writes ``RESULTS.md`` and the README's
headline section (between its ``results`` markers), stamped with the commit and preset.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import captions, claims, paths, vocabulary
from .claims import Verdict

README_START = "<!-- results:start (written by `make report`; edits here are overwritten) -->"
README_END = "<!-- results:end -->"


@dataclass
class NotebookReport:
    """What one executed notebook says: its title, run time, the outputs of its checked
    cells, and the verdicts its run recorded (``results/<notebook>-claims.json``)."""

    name: str
    title: str
    seconds: float | None
    checked: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def _text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def claims_file(folder: Path, notebook: str) -> Path:
    """Where a run in ``folder`` (``runs/<preset>`` or a grid run's folder) recorded its
    verdicts."""
    return folder / "results" / f"{notebook}-claims.json"


def read_notebook(path: Path) -> NotebookReport:
    nb = json.loads(path.read_text())
    title = next(("".join(c["source"]).splitlines()[0].lstrip("# ").strip()
                  for c in nb["cells"] if c["cell_type"] == "markdown"), path.stem)
    report = NotebookReport(path.stem, title, nb.get("metadata", {}).get("papermill", {}).get("duration"))
    for cell in nb["cells"]:
        text = _text(cell).rstrip()
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]) and text:
            report.checked.append(text)
    recorded = claims_file(path.parent, path.stem)
    if recorded.is_file():
        report.verdicts = claims.load(recorded)
    return report


#: Seeds a claim must be tested on before its verdict over seeds is given.
MIN_SEEDS = 3

PerSeed = dict[int, Verdict]


def seed_verdicts(preset: str, runs_root: Path | None = None) -> dict[str, dict[str, PerSeed]]:
    """``{notebook: {claim id: {seed: Verdict}}}`` from the finished runs of a seed grid
    (``python -m unlearnlab.run --grid SEED=0,1,2``): runs whose only parameter is SEED,
    each read from the claims file its run recorded."""
    from .grid import finished_runs

    base = (runs_root or paths.runs_dir()) / preset
    found: dict[str, dict[str, PerSeed]] = {}
    for folder in sorted(p for p in base.glob("[0-9][0-9]-*") if p.is_dir()):
        manifests = [m for m in finished_runs(preset, folder.name, runs_root)
                     if set(m["parameters"]) == {"SEED"}]  # other grids: not the notebook's verdicts
        if not any(m["parameters"]["SEED"] == 0 for m in manifests):
            manifests += canonical_as_seed_0(preset, folder.name, runs_root)
        for manifest in manifests:
            recorded = claims_file(Path(manifest["folder"]), folder.name)
            if not recorded.is_file():
                continue
            for verdict in claims.load(recorded):
                found.setdefault(folder.name, {}).setdefault(verdict.claim, {})[
                    manifest["parameters"]["SEED"]] = verdict
    return found


def canonical_as_seed_0(preset: str, notebook: str, runs_root: Path | None = None) -> list[dict]:
    """The canonical run of ``notebook`` (``runs/<preset>/<notebook>.ipynb``: defaults,
    seed 0) as the seed-0 point of its seed grid, when it ran the notebook's current
    code: it is the same computation, so ``make seeds SEEDS=1,2`` need not repeat it."""
    from .grid import notebook_code

    executed = (runs_root or paths.runs_dir()) / preset / f"{notebook}.ipynb"
    source = paths.NOTEBOOKS_DIR / f"{notebook}.ipynb"
    if not executed.is_file() or not source.is_file() or notebook_code(executed) != notebook_code(source):
        return []
    return [{"parameters": {"SEED": 0}, "folder": executed.parent, "executed": executed.name}]


def stale_seeds(preset: str, notebook: str, runs_root: Path | None = None) -> list[int]:
    """Seeds of a notebook's seed grid that ran other code than the notebook has now (or
    did not record it); empty when the notebook is not in ``notebooks/``."""
    from .grid import finished_runs, notebook_code

    path = paths.NOTEBOOKS_DIR / f"{notebook}.ipynb"
    if not path.is_file():
        return []
    current = notebook_code(path)
    return sorted(m["parameters"]["SEED"] for m in finished_runs(preset, notebook, runs_root)
                  if set(m["parameters"]) == {"SEED"} and m.get("notebook_code") != current)


def agreement(per_seed: dict[int, str], min_seeds: int = MIN_SEEDS) -> str:
    """One verdict over seeds: HOLDS or DOES NOT HOLD only when every seed (at least
    ``min_seeds``) says so; MIXED names how many agree; fewer seeds: TOO FEW SEEDS."""
    seeds, verdicts = sorted(per_seed), [per_seed[s] for s in sorted(per_seed)]
    if len(seeds) < min_seeds:
        return f"TOO FEW SEEDS ({len(seeds)} of {min_seeds})"
    if len(set(verdicts)) == 1:
        return f"{verdicts[0]} in all {len(seeds)} seeds"
    counts = ", ".join(f"{v} in {verdicts.count(v)}" for v in dict.fromkeys(verdicts))
    return f"MIXED: {counts} of {len(seeds)} seeds"


def check_over_seeds(values: list[float], op: str, threshold: float) -> tuple[float, float, str]:
    """(mean, std, outcome) of one check over seeds: ``passes`` when mean ± std (the
    side nearer the threshold) still clears it, ``fails`` when even the far side does
    not, else ``within the spread``."""
    series = pd.Series(values, dtype=float)
    mean, std = float(series.mean()), float(series.std()) if len(series) > 1 else 0.0
    near, far = (mean - std, mean + std) if op.startswith(">") else (mean + std, mean - std)
    clears = claims.OPS[op]
    if clears(near, threshold):
        return mean, std, "passes"
    if not clears(far, threshold):
        return mean, std, "fails"
    return mean, std, "within the spread"


def spread_verdict(per_seed: PerSeed) -> tuple[str | None, list[str]]:
    """The verdict that the checks' mean ± std over seeds gives (HOLDS, DOES NOT HOLD,
    MIXED for a claim of parts, or WITHIN THE SPREAD), and one line per check; (None, [])
    when the claim has no checks."""
    runs = list(per_seed.values())
    if not runs or not runs[0].checks:
        return None, []
    lines, outcomes = [], []
    for i, check in enumerate(runs[0].checks):
        mean, std, outcome = check_over_seeds([r.checks[i]["value"] for r in runs], check["op"],
                                              check["threshold"])
        outcomes.append(outcome)
        lines.append(f"{check['quantity']} {mean:.3g} ± {std:.2g} (needs {check['op']} "
                     f"{check['threshold']:g}): {outcome}")
    if all(o == "passes" for o in outcomes):
        return "HOLDS", lines
    # every check must pass ("all"): one that fails beyond the spread decides; a claim of
    # parts fails only when every part does
    if ("fails" in outcomes) if runs[0].mode == "all" else all(o == "fails" for o in outcomes):
        return "DOES NOT HOLD", lines
    return ("WITHIN THE SPREAD" if "within the spread" in outcomes else "MIXED"), lines


def untestable_over_seeds(per_seed: PerSeed) -> str | None:
    """``UNTESTABLE HERE`` naming the failed preconditions (mean over seeds) when any seed
    found the claim untestable, else None: a claim is tested over seeds only where
    every seed could test it."""
    failed = [s for s, v in sorted(per_seed.items()) if v.status == "UNTESTABLE HERE"]
    if not failed:
        return None
    first = per_seed[failed[0]].failed_preconditions()
    named = "; ".join(
        f"{p['quantity']} {pd.Series([per_seed[s].preconditions[i]['value'] for s in failed]).mean():.3g} "
        f"(needs {p['op']} {p['threshold']:g})"
        for i, p in enumerate(per_seed[failed[0]].preconditions) if p in first)
    return f"UNTESTABLE HERE in {len(failed)} of {len(per_seed)} seed(s): {named}"


def verdict_over_seeds(per_seed: PerSeed, min_seeds: int = MIN_SEEDS) -> tuple[str, list[str]]:
    """A claim's verdict over seeds and its checks' lines. UNTESTABLE HERE when a seed's
    regime could not express it; HOLDS (or DOES NOT HOLD) only when every seed says so
    *and* their checks' mean ± std over seeds says so too ("beyond the spread"); a
    unanimous verdict that the spread does not carry is WITHIN THE SPREAD."""
    untestable = untestable_over_seeds(per_seed)
    if untestable:
        return untestable, []
    verdicts = {seed: v.status for seed, v in per_seed.items()}
    agreed = agreement(verdicts, min_seeds)
    if len(set(verdicts.values())) != 1 or agreed.startswith("TOO FEW"):
        return agreed, spread_verdict(per_seed)[1] if len(per_seed) >= min_seeds else []
    spread, lines = spread_verdict(per_seed)
    if spread is None:
        return agreed, lines
    if agreed.startswith(spread):
        return f"{agreed}, beyond the spread", lines
    return f"WITHIN THE SPREAD: {agreed}, not carried by mean ± std", lines


def _numbers(verdict: Verdict, *, checks: bool = False) -> str:
    """A verdict's failed preconditions and evidence (and, with ``checks``, each check's
    value against its threshold) on one line."""
    failed = "; ".join(f"precondition not met: {p['quantity']} = {p['value']:.4g} (needs {p['op']} "
                       f"{p['threshold']:g})" for p in verdict.failed_preconditions())
    listed = "checks: " + "; ".join(f"{c['quantity']} = {c['value']:.4g} (needs {c['op']} {c['threshold']:g})"
                                    for c in verdict.checks) if checks and verdict.checks else ""
    return " — ".join(part for part in (failed, verdict.evidence, listed) if part)


def seeds_markdown(preset: str, runs_root: Path | None = None) -> str | None:
    """The ``Verdicts over seeds`` section of RESULTS.md, or None without a seed grid."""
    found = seed_verdicts(preset, runs_root)
    if not found:
        return None
    parts = ["## Verdicts over seeds\n",
             f"From the seed grids in `runs/{preset}/<notebook>/` (`make seeds`): each notebook "
             "run once per seed, a different original model and forget draw each. A claim "
             "holds (or fails) only when it does in every seed and each check's mean ± std over "
             "the seeds clears its threshold on the same side: *beyond the spread*. A claim every "
             "seed agrees on but whose mean ± std straddles a threshold is WITHIN THE SPREAD; one "
             "that any seed could not test is UNTESTABLE HERE. Mean ± std of every column: "
             f"`runs/{preset}/<notebook>/merged/<table>-over-seeds.csv`.\n"]
    for notebook, found_claims in found.items():
        seeds = sorted({s for per_seed in found_claims.values() for s in per_seed})
        parts.append(f"### {notebook} (seeds {', '.join(map(str, seeds))})\n")
        stale = stale_seeds(preset, notebook, runs_root)
        if stale:
            parts.append(f"**Stale**: seed(s) {', '.join(map(str, stale))} ran an older version of "
                         "the notebook; `make seeds` re-runs them.\n")
        for claim_id, per_seed in found_claims.items():
            verdict, check_lines = verdict_over_seeds(per_seed)
            statement = next(iter(per_seed.values())).statement
            parts.append(f"- [{verdict}] {claim_id} {statement}")
            if check_lines:
                parts.append("  - mean ± std over seeds: " + "; ".join(check_lines))
            for seed, seed_verdict in sorted(per_seed.items()):
                numbers = _numbers(seed_verdict)
                parts.append(f"  - seed {seed}: {seed_verdict.status}" + (f" — {numbers}" if numbers else ""))
        parts.append("")
    return "\n".join(parts)


def leaderboard_markdown(ranked: pd.DataFrame, attacks: pd.DataFrame | None = None,
                         regime: pd.DataFrame | None = None, privacy: pd.DataFrame | None = None) -> str:
    """The ranked leaderboard as one Markdown table per scenario (mean ± std over
    requests): rank with the range the bootstrap allows, the Avg. Gap's four columns, the other
    attacks (in parentheses where they do not separate the original from retrain), the
    linear probe and relearn time, cost, and the flags. ``attacks`` is
    :func:`leaderboard.attack_separation`'s table, ``regime`` the instance scenario's
    memorisation gaps (:func:`leaderboard.memorisation`), ``privacy`` notebook 06's
    method table (:func:`privacy.method_table`): where it exists, the instance scenario
    gains each method's per-example score from the pool."""
    from .leaderboard import ATTACKS, default_notes, leaderboard_lines, rank_text

    def pm(row, col: str) -> str:
        return vocabulary.pm(row[f"{col}_mean"], row[f"{col}_std"]) if f"{col}_mean" in row else "—"

    parts = []
    main = ("acc_forget", "acc_retain", "acc_test_retain", "mia_svc_nonmember", "avg_gap")
    extra = [a for a in ATTACKS[1:]] + ["probe_forget", "relearn_steps", "time_s"]
    for scenario, part in ranked.groupby("scenario", sort=False):
        noisy = {}
        if attacks is not None:
            found = attacks[(attacks.scenario == scenario) & ~attacks.separates.astype(bool)]
            noisy = dict(zip(found.attack, found.reason, strict=True))
        pooled = privacy is not None and "instances" in scenario
        scores = privacy.set_index("method") if pooled else None
        header = ["rank", "method", *(vocabulary.label(c) for c in main), *(vocabulary.label(c) for c in extra),
                  *(["pool score (N per side)"] if pooled else []), "flag"]
        rows = ["| " + " | ".join(header) + " |",
                "|--:|:--|" + "--:|" * (len(main) + len(extra) + pooled) + ":--|"]
        for _, row in part.iterrows():
            cells = [rank_text(row) if row.kind == "method" else "ref.",
                     row.method + (" †" if isinstance(row.get("goal"), str) and row.goal else "")]
            cells += [pm(row, c) for c in main]
            for c in extra:
                value = pm(row, c) if c != "time_s" else vocabulary.number(row.get("time_s_mean"), 2)
                cells.append(f"({value})" if c in noisy else value)
            if pooled:
                found = row.method in scores.index
                cells.append(f"{scores.final_score[row.method]:.3f} ({int(scores.n_models[row.method])})"
                             if found else "—")
            cells.append(row.flag if isinstance(row.flag, str) else "")
            rows.append("| " + " | ".join(cells) + " |")
        notes = [f"{vocabulary.label(a)} in parentheses: {reason}" for a, reason in noisy.items()]
        if "mia_svc_nonmember" in noisy:
            notes.append("MIA-Efficacy stays in the Avg. Gap (SalUn's definition) although it "
                         + noisy["mia_svc_nonmember"])
        if regime is not None and len(regime) and "instances" in scenario:
            notes.append(f"memorisation gap on D_f {regime.gap.mean():.3f} "
                         f"({regime.ses.min():.1f} standard errors at the least; the scenario needs 5)")
        if pooled:
            notes.append("pool score: the NeurIPS 2023 unlearning challenge's final score from notebook 06's pool "
                         "(its own draw of 10 % of the training subset): per forget example, how well the method's "
                         "outputs over N runs can be told from N retrains', bucketed and averaged, times the retain "
                         "and test accuracy ratios to retrain; 1 = as hard to tell as another retrain")
        notes += default_notes(part)
        goals = part[part.goal.fillna("") != ""] if "goal" in part else part.iloc[:0]
        notes += [f"† {row.method}: goal {row.goal}" for _, row in goals.iterrows()]
        floor = part.floor.iloc[0] if "floor" in part else float("nan")
        notes.append(f"noise floor (Avg. Gap of a retrain from another initialisation): {vocabulary.number(floor)}; "
                     f"{int(part.requests.max())} requests")
        parts.append(f"**{scenario}**\n\n" + "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes))
    lines = "\n".join(f"- {line}" for line in leaderboard_lines(ranked))
    return "\n\n".join(parts) + "\n\nOne line per method (computed, not written by hand):\n\n" + lines


def anchor(heading: str) -> str:
    """The link fragment GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


#: The regimes whose verdicts stand side by side in the claims table: the committed
#: preset and the ``deep`` preset (ResNet-18 that memorises, where the claims about stages
#: and memorised samples can be expressed).
REGIMES = ("cpu", "deep")


def regime_verdicts(preset: str, runs_root: Path | None = None) -> dict[str, str]:
    """``{claim id: verdict}`` of one regime: over seeds where a seed grid ran (the
    canonical run counting as seed 0 while its code is current), else the canonical
    run's own, which rests on one seed."""
    found: dict[str, str] = {}
    for per_claim in seed_verdicts(preset, runs_root).values():
        for claim_id, per_seed in per_claim.items():
            found[claim_id] = _glance(per_seed)
    base = (runs_root or paths.runs_dir()) / preset
    for recorded in sorted(base.glob("results/[0-9][0-9]-*-claims.json")):
        for verdict in claims.load(recorded):
            found.setdefault(verdict.claim, _glance({0: verdict}))
    return found


def claims_markdown(preset: str, reports: list[NotebookReport], runs_root: Path | None = None, *,
                    links: bool = True) -> str:
    """Claims at a glance: one row per declared claim, its verdict in each regime of
    :data:`REGIMES` (``preset`` first), linked to the notebook's section of RESULTS.md
    (``links``; the README leaves the links out to stay short)."""
    regimes = [preset] + [r for r in REGIMES if r != preset]
    verdicts = {r: regime_verdicts(r, runs_root) for r in regimes}
    titles = {r.name: r.title for r in reports}
    rows = ["| claim | paper | " + " | ".join(f"verdict at `{r}`" for r in regimes) + (" | details |" if links else " |"),
            "|:--|:--|" + ":--|" * len(regimes) + (":--|" if links else "")]
    for claim in claims.CLAIMS.values():
        cells = [verdicts[r].get(claim.id, "not run") for r in regimes]
        if all(c == "not run" for c in cells):
            continue
        section = titles.get(claim.notebook, claim.notebook)
        rows.append(f"| {claim.id} {claim.statement.replace('|', '/')} | {claim.paper} | "
                    + " | ".join(cells) + (f" | [RESULTS.md](RESULTS.md#{anchor(section)}) |" if links else " |"))
    return "\n".join(rows)


def _status(verdict: Verdict) -> str:
    """A verdict's status; an untestable one names the preconditions that failed."""
    failed = "; ".join(f"{p['quantity']} {p['value']:.3g} (needs {p['op']} {p['threshold']:g})"
                       for p in verdict.failed_preconditions())
    return f"{verdict.status}: {failed}" if failed else verdict.status


def _glance(per_seed: PerSeed) -> str:
    """A claim's verdict over seeds; with too few seeds, each seed's own verdict and how
    many seeds it rests on."""
    if len(per_seed) < MIN_SEEDS:
        if len(per_seed) == 1:
            return f"{_status(next(iter(per_seed.values())))} (rests on one seed)"
        shown = ", ".join(f"{_status(v)} at seed {seed}" for seed, v in sorted(per_seed.items()))
        return f"{shown} (rests on {len(per_seed)} seeds)"
    return verdict_over_seeds(per_seed)[0]


def leaderboard_summary(ranked: pd.DataFrame, top: int = 3) -> str:
    """The README's short leaderboard: per scenario the ``top`` ranked methods (rank with
    its bootstrap interval, Avg. Gap and D_f accuracy as RESULTS.md prints them), the
    noise floor and the original, and what no method achieves."""
    from .leaderboard import rank_text

    rows = [f"| scenario | rank | method | {vocabulary.label('avg_gap')} | {vocabulary.label('acc_forget')} | "
            f"{vocabulary.label('acc_test_retain')} | flag |", "|:--|--:|:--|--:|--:|--:|:--|"]
    missing = []
    for scenario, part in ranked.groupby("scenario", sort=False):
        ranked_rows = part[part["rank"].notna()].sort_values(["rank", "avg_gap_mean"])
        shown = pd.concat([ranked_rows.head(top), part[part.method.isin(["original", "retrain (other seed)"])]])
        for _, row in shown.iterrows():
            place = rank_text(row) if row.kind == "method" else "ref."
            rows.append(f"| {scenario} | {place} | {row.method} | "
                        f"{vocabulary.pm(row.avg_gap_mean, row.avg_gap_std)} | "
                        f"{vocabulary.pm(row.acc_forget_mean, row.acc_forget_std)} | "
                        f"{vocabulary.pm(row.acc_test_retain_mean, row.acc_test_retain_std)} | "
                        f"{row.flag if isinstance(row.flag, str) else ''} |")
        floor = part.floor.iloc[0]
        within = ranked_rows[ranked_rows.avg_gap_mean <= floor]
        if within.empty:
            missing.append(f"{scenario} (floor {floor:.3f}, best {ranked_rows.avg_gap_mean.min():.3f})"
                           if len(ranked_rows) else f"{scenario} (no method ranked)")
    text = "\n".join(rows)
    if missing:
        text += ("\n\nNo method comes as close to retrain as a retrain from another initialisation "
                 "(Avg. Gap within the noise floor) in: " + "; ".join(missing) + ".")
    return text


def _timings(reports: list[NotebookReport]) -> str:
    rows = ["| notebook | time (s) |", "|:--|--:|"]
    rows += [f"| {r.name} | {r.seconds:.0f} |" for r in reports if r.seconds is not None]
    total = sum(r.seconds for r in reports if r.seconds is not None)
    return "\n".join(rows + [f"| sum of notebook times | {total:.0f} |", "",
                             "Each notebook's time is its last run's: models it found in `runs/cache/` "
                             "were not trained again. docs/performance.md gives the times from an "
                             "empty cache."])


def leaderboard_tables(results: Path) -> tuple[pd.DataFrame | None, ...]:
    """Notebook 05's ranked, attack-separation and memorisation tables and notebook 06's
    method table from a results folder, each None where it was not written."""
    def read(name: str, fill: dict | None = None) -> pd.DataFrame | None:
        path = results / f"{name}.csv"
        if not path.exists():
            return None
        frame = pd.read_csv(path)
        return frame.astype({c: object for c in fill or {} if c in frame}).fillna(fill or {})

    return (read("05-leaderboard-ranked", {"flag": "", "goal": ""}),
            read("05-leaderboard-attacks", {"reason": ""}),
            read("05-leaderboard-memorisation"), read("06-privacy-pool"))


def results_markdown(preset: str) -> tuple[str, str]:
    """(RESULTS.md text, the README's generated section) for ``preset``."""
    folder = paths.preset_dir(preset)
    reports = [read_notebook(p) for p in sorted(folder.glob("[0-9][0-9]-*.ipynb"))]
    if not reports:
        raise FileNotFoundError(f"No executed notebooks in {folder}: run `make reproduce "
                                f"PRESET={preset}` first")
    stamp = f"Generated by `make report` from `runs/{preset}/` (commit {paths.commit_stamp()}, preset `{preset}`)."
    ranked, attacks, regime, privacy = leaderboard_tables(folder / "results")
    headline = (f"{stamp}\n\n**Claims at a glance** (each verdict is tested in its notebook; "
                f"*over seeds* where `make seeds` ran; each claim's numbers: [RESULTS.md](RESULTS.md#claims-at-a-glance))"
                f":\n\n{claims_markdown(preset, reports, links=False)}\n")
    if ranked is not None:
        headline += ("\n**Leaderboard** (notebook 05; mean ± std over requests; rank (best-worst the "
                     "paired bootstrap allows), methods that cannot be ordered share a rank; the full tables, "
                     "every attack, probe, relearn time and flags: [RESULTS.md](RESULTS.md#leaderboard)):\n\n"
                     f"{leaderboard_summary(ranked)}\n")
    body = [f"# Results of the `{preset}` preset\n\n{stamp} Every number below was printed by a "
            f"notebook of that run; the same cells are re-checked by nbval.\n\n"
            f"## Run times\n\n{_timings(reports)}\n"]
    if ranked is not None:
        body.append(f"## Leaderboard\n\n{leaderboard_markdown(ranked, attacks, regime, privacy)}\n")
    body.append(f"## Claims at a glance\n\n{claims_markdown(preset, reports)}\n")
    for report in reports:
        body.append(f"## {report.title}\n")
        if report.verdicts:
            body.append("Verdicts (this run's seed; `docs/claims.md` gives every check's threshold and "
                        "source):\n\n" + _verdict_lines(report.verdicts) + "\n")
        for text in report.checked:
            body.append("```text\n" + text + "\n```\n")
    over_seeds = seeds_markdown(preset)
    if over_seeds:
        body.append(over_seeds)
    body += [part for part in (regime_markdown(r) for r in REGIMES if r != preset) if part]
    return "\n".join(body), headline


def _verdict_lines(verdicts: list[Verdict]) -> str:
    return "\n".join(f"- [{v.status}] {v.claim} {v.statement} — {_numbers(v, checks=True)}" for v in verdicts)


def regime_markdown(preset: str, runs_root: Path | None = None) -> str | None:
    """A section of RESULTS.md for another regime's canonical runs: their run times,
    every verdict with its numbers and, where notebook 05 ran, its leaderboard (None where
    that regime has not run)."""
    folder = (runs_root or paths.runs_dir()) / preset
    recorded = sorted(folder.glob("results/[0-9][0-9]-*-claims.json"))
    if not recorded:
        return None
    reports = [read_notebook(p) for p in sorted(folder.glob("[0-9][0-9]-*.ipynb"))]
    parts = [f"## Verdicts at `{preset}`\n",
             f"The canonical runs in `runs/{preset}/` (`make reproduce PRESET={preset}`), seed 0; "
             f"their run times:\n\n{_timings(reports)}\n"]
    for path in recorded:
        parts.append(f"### {path.name.removesuffix('-claims.json')} at `{preset}`\n\n"
                     + _verdict_lines(claims.load(path)) + "\n")
    ranked, attacks, regime, privacy = leaderboard_tables(folder / "results")
    if ranked is not None:
        parts.append(f"### Leaderboard at `{preset}`\n\n{leaderboard_markdown(ranked, attacks, regime, privacy)}\n")
    return "\n".join(parts)


#: The preset whose results the repository shows (README headline, RESULTS.md).
COMMITTED_PRESET = "cpu"


def write(preset: str) -> list[Path]:
    """Write the results of ``preset``: for the cpu preset RESULTS.md and the README's
    headline; for any other preset ``runs/<preset>/RESULTS.md`` only (the committed
    files always show the cpu run)."""
    results, headline = results_markdown(preset)
    if preset != COMMITTED_PRESET:
        out = paths.preset_dir(preset) / "RESULTS.md"
        out.write_text(results)
        return [out]
    out = paths.REPO_ROOT / "RESULTS.md"
    out.write_text(results)
    readme = paths.REPO_ROOT / "README.md"
    splice_readme(readme, headline)
    return [out, readme, write_methods_doc(), write_claims_doc(), captions.write_figures_doc()]


def splice_readme(readme: Path, headline: str) -> None:
    """Replace what stands between the README's results markers by ``headline``."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme.name} lacks the markers {README_START!r} ... {README_END!r}")
    before, rest = text.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    readme.write_text(f"{before}{README_START}\n{headline}\n{README_END}{after}")


METHODS_DOC = paths.REPO_ROOT / "docs" / "methods.md"


def methods_markdown() -> str:
    """Every registered method's specification, from the code itself: per module its
    docstring (what it does, citing the paper, and where it departs from the reference
    code), then per method its scenario, the data it may read, its defaults and its
    docstring."""
    import inspect

    from . import methods

    by_module: dict[str, list] = {}
    for name in methods.list_methods():
        spec = methods.get_method(name)
        by_module.setdefault(spec.fn.__module__, []).append(spec)
    lines = ["# Methods", "",
             "Generated from the method modules' docstrings and signatures by "
             "`python -m unlearnlab.report --methods` (also run by `make report`); edit the code, "
             "not this file. Every method is called as `run_method(name, model, request, **kwargs)`; "
             "`needs` lists the request's data accessors it may call (anything else raises).", ""]
    for module_name, specs in by_module.items():
        module = sys.modules[module_name]
        path = Path(inspect.getfile(module)).relative_to(paths.REPO_ROOT)
        lines += [f"## {', '.join(f'`{s.name}`' for s in specs)} ([{path.name}](../{path.as_posix()}))", "",
                  inspect.getdoc(module) or "", ""]
        for spec in specs:
            defaults = ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items())
            lines += [f"### `{spec.name}`", "",
                      f"Scenario: {spec.scenario}; reads: {', '.join(sorted(spec.needs)) or 'nothing'}.", "",
                      f"Defaults: `{defaults}`" if defaults else "No hyperparameters.", "",
                      inspect.getdoc(spec.fn) or "", ""]
    return "\n".join(lines).rstrip() + "\n"


CLAIMS_DOC = paths.REPO_ROOT / "docs" / "claims.md"


def write_claims_doc() -> Path:
    """``docs/claims.md`` from the declarations in :mod:`unlearnlab.claims`."""
    CLAIMS_DOC.parent.mkdir(exist_ok=True)
    CLAIMS_DOC.write_text(claims.markdown())
    return CLAIMS_DOC


def write_methods_doc() -> Path:
    METHODS_DOC.parent.mkdir(exist_ok=True)
    METHODS_DOC.write_text(methods_markdown())
    return METHODS_DOC


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.report", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--methods", action="store_true",
                        help=f"only write {METHODS_DOC.relative_to(paths.REPO_ROOT)} (from the methods' code)")
    args = parser.parse_args(argv)
    try:
        if args.methods:
            print(f"wrote {write_methods_doc()}")
            print(f"wrote {write_claims_doc()}")
            print(f"wrote {captions.write_figures_doc()}")
            return 0
        for path in write(args.preset):
            print(f"wrote {path}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
