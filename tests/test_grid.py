"""Grids of notebook runs: expansion, a run folder per point, resume, failures that name
their cell, merged tables with mean ± std over seeds, the submitit path (on submitit's
local executor) and workers that never outlive the parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from unlearnlab import grid, paths, run

# A notebook that writes one small results table whose values depend on its parameters.
TABLE_BODY = textwrap.dedent("""
    import pandas as pd
    from unlearnlab import metrics
    if FAIL_SEED == SEED:
        raise RuntimeError(f"broken on purpose at seed {SEED}")
    table = pd.DataFrame({"method": ["a", "b"], "score": [SEED * 1.0, SEED * 2.0 + SCALE],
                          "ok": [True, SEED > 0]})
    metrics.save_results(table, "01-table", PRESET)
""")


def _notebook(path: Path, body: str, parameters: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    source = 'PRESET = "smoke"  # type: str\nSEED = 0  # type: int\n' + parameters
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def table_notebook(tmp_path):
    return _notebook(tmp_path / "01-table.ipynb", TABLE_BODY,
                     "SCALE = 0.0  # type: float\nFAIL_SEED = -1  # type: int\n")


def test_axes_parse_literals_strings_and_lists():
    assert grid.parse_axis("SEED=0,1,2") == ("SEED", [0, 1, 2])
    assert grid.parse_axis("LR=1e-3, 0.01") == ("LR", [1e-3, 0.01])
    assert grid.parse_axis("MODEL=small_cnn,resnet18") == ("MODEL", ["small_cnn", "resnet18"])
    assert grid.parse_axis("CLASSES=[0],[0, 1]") == ("CLASSES", [[0], [0, 1]])
    assert grid.parse_axis("K=None,64") == ("K", [None, 64])
    for bad in ("SEED", "=1,2", "SEED=", "SEED=1,,2", "2X=1"):
        with pytest.raises(grid.GridError):
            grid.parse_axis(bad)


def test_expand_is_the_product_and_refuses_ambiguity():
    points = grid.expand({"SEED": [0, 1], "K": [8, 16, 32]}, {"LR": 0.1})
    assert len(points) == 6
    assert points[:3] == [{"LR": 0.1, "SEED": 0, "K": k} for k in (8, 16, 32)]
    with pytest.raises(grid.GridError, match="both as a grid axis and as a parameter"):
        grid.expand({"K": [1, 2]}, {"K": 3})
    with pytest.raises(grid.GridError, match="repeats"):
        grid.expand({"SEED": [0, 0]})


def test_run_key_names_the_point_not_the_order(tmp_path):
    a = grid.run_key("05-x", "cpu", {"SEED": 1, "K": 8})
    assert a == grid.run_key("05-x", "cpu", {"K": 8, "SEED": 1})
    assert a != grid.run_key("05-x", "cpu", {"SEED": 2, "K": 8})
    assert a != grid.run_key("05-x", "gpu", {"SEED": 1, "K": 8})
    point = grid.GridRun(Path("05-x.ipynb"), "cpu", {"SEED": 1, "K": 8}, tmp_path)
    assert point.folder == tmp_path / "cpu" / "05-x" / a


def test_grid_file_holds_axes_and_shared_parameters(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[grid]\nSEED = [0, 1]\nMODEL = ["a", "b"]\n\n[parameters]\nK = 64\n')
    assert grid.read_grid_file(path) == ({"SEED": [0, 1], "MODEL": ["a", "b"]}, {"K": 64})
    path.write_text("[grid]\nSEED = 3\n")
    with pytest.raises(grid.GridError, match="non-empty list"):
        grid.read_grid_file(path)
    path.write_text("[grids]\nSEED = [1]\n")
    with pytest.raises(grid.GridError, match="unknown table"):
        grid.read_grid_file(path)


def test_a_local_grid_runs_merges_and_resumes(table_notebook, tmp_path, capsys):
    runs = [grid.GridRun(table_notebook, "smoke", p, tmp_path / "runs")
            for p in grid.expand({"SEED": [0, 1, 2]}, {"SCALE": 0.5})]
    manifests = grid.run_grid(runs, jobs=2)
    assert sorted(m["parameters"]["SEED"] for m in manifests) == [0, 1, 2]
    assert all(m["status"] == "done" and m["results"] == ["01-table.csv"] for m in manifests)
    printed = capsys.readouterr().out
    assert "[3/3] 01-table" in printed and "left)" in printed
    for r in runs:
        assert (r.folder / "01-table.ipynb").is_file()
        assert pd.read_csv(r.folder / "results" / "01-table.csv")["score"].tolist() == [
            r.parameters["SEED"], 2 * r.parameters["SEED"] + 0.5]

    written = grid.merge("smoke", "01-table", tmp_path / "runs")
    assert set(written) == {"01-table.csv", "01-table-over-seeds.csv"}
    merged = grid.load_merged("smoke", "01-table", runs_root=tmp_path / "runs")
    assert len(merged) == 6 and list(merged.columns[:3]) == ["SCALE", "SEED", "run"]
    over = grid.load_merged("smoke", "01-table", over_seeds=True, runs_root=tmp_path / "runs")
    b = over.set_index("method").loc["b"]
    assert b["n_seeds"] == 3
    assert b["score_mean"] == pytest.approx(2.5)                 # 0.5, 2.5, 4.5
    assert b["score_std"] == pytest.approx(2.0)                  # sample std over seeds
    assert b["ok_mean"] == pytest.approx(2 / 3)
    assert grid.mean_pm_std(over, ["score"]).set_index("method").loc["b", "score"] == "2.500 ± 2.000"

    stamps = [(r.folder / grid.MANIFEST).stat().st_mtime_ns for r in runs]
    again = grid.run_grid(runs, jobs=2)
    assert len(again) == 3 and "3 of 3 run(s) already done" in capsys.readouterr().out
    assert stamps == [(r.folder / grid.MANIFEST).stat().st_mtime_ns for r in runs]


def test_a_run_is_done_only_with_its_parameters_and_every_table(table_notebook, tmp_path):
    point = grid.GridRun(table_notebook, "smoke", {"SEED": 1}, tmp_path)
    assert grid.execute_run(point)["status"] == "done"
    assert grid.is_done(point)
    manifest = grid.read_manifest(point.folder)
    grid.write_manifest(point.folder, {**manifest, "parameters": {"SEED": 2}})
    assert not grid.is_done(point), "a manifest of other parameters is not this run"
    grid.write_manifest(point.folder, {**manifest, "status": "running"})  # killed mid-run
    assert not grid.is_done(point)
    assert grid.merge("smoke", "01-table", tmp_path) == {}, "an unfinished run is never merged"
    grid.write_manifest(point.folder, manifest)
    (point.folder / "results" / "01-table.csv").unlink()
    assert not grid.is_done(point), "a missing results table runs again"


def test_a_run_of_an_edited_notebook_is_stale(table_notebook, tmp_path):
    point = grid.GridRun(table_notebook, "smoke", {"SEED": 1}, tmp_path)
    assert grid.execute_run(point)["status"] == "done" and grid.is_done(point)
    nb = nbformat.read(table_notebook, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="an output is not code")]
    nbformat.write(nb, table_notebook)
    assert grid.is_done(point), "outputs and metadata do not make a run stale"
    nb.cells.append(nbformat.v4.new_markdown_cell("A sentence about the results."))
    nbformat.write(nb, table_notebook)
    assert grid.is_done(point), "edited prose does not make a run stale"
    nb.cells[1].source = nb.cells[1].source.replace("SEED * 2.0", "SEED * 3.0")
    nbformat.write(nb, table_notebook)
    assert not grid.is_done(point), "a run of other code runs again"


def test_a_failed_run_names_its_cell_and_how_to_rerun_it(table_notebook, tmp_path):
    runs = [grid.GridRun(table_notebook, "smoke", p, tmp_path)
            for p in grid.expand({"SEED": [0, 1]}, {"FAIL_SEED": 1})]
    manifests = {m["parameters"]["SEED"]: m for m in grid.run_grid(runs, jobs=1)}
    assert manifests[0]["status"] == "done"
    failed = manifests[1]
    assert failed["status"] == "failed"
    assert "01-table.ipynb failed in cell" in failed["error"]
    assert "RuntimeError: broken on purpose at seed 1" in failed["error"]
    assert not (runs[1].folder / "results").exists()
    assert "--grid SEED=1" in runs[1].rerun_command() and "--grid FAIL_SEED=1" in runs[1].rerun_command()
    for value in ("small_cnn", "None", "a,b", [0, 1], None, 1e-3):
        text = grid._axis_text(value)
        assert grid.parse_axis(f"X={text}") == ("X", [value])
    merged = pd.read_csv(grid.merge("smoke", "01-table", tmp_path)["01-table.csv"])
    assert merged["SEED"].unique().tolist() == [0]


def test_results_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "results" / "t.csv"
    paths.atomic_write_text(target, "old\n")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        paths.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["t.csv"], "no temporary file left"


def test_the_submitit_path_runs_on_its_local_executor(table_notebook, tmp_path):
    pytest.importorskip("submitit")
    runs = [grid.GridRun(table_notebook, "smoke", {"SEED": s}, tmp_path) for s in (0, 1)]
    options = grid.SlurmOptions(cluster="local", cpus_per_job=1, time_min=10, poll_s=0.5)
    manifests = grid.run_grid(runs, executor="slurm", slurm=options)
    assert sorted(m["status"] for m in manifests) == ["done", "done"]
    assert list((tmp_path / "smoke" / "submitit").glob("*/*.pkl")), "submitit's job folders"
    assert all(grid.is_done(r) for r in runs)


def test_cli_refuses_bad_grids_before_anything_runs(table_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "runs"))
    assert run.main(["--preset", "smoke", "01", "--grid", "NOPE=1,2"]) == 2
    assert "has no parameter 'NOPE'" in capsys.readouterr().err
    assert run.main(["--preset", "smoke", "01", "--grid", "SEED=0,x"]) == 2
    assert "SEED must be int" in capsys.readouterr().err
    assert run.main(["--preset", "smoke", "01", "--grid", "SEED=0", "--grid", "SEED=1"]) == 2
    assert not (tmp_path / "runs" / "smoke" / "01-table").exists()


def test_cli_grid_reports_failures_and_merges(table_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "runs"))
    code = run.main(["--preset", "smoke", "01", "--grid", "SEED=0,1", "-p", "FAIL_SEED=1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "merged 01-table-over-seeds.csv" in captured.out
    assert "FAILED 01-table SEED=1 FAIL_SEED=1" in captured.err and "alone: python -m" in captured.err


SLEEPER = textwrap.dedent("""
    import os, time
    with open(PIDS, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(120)
""")

DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from unlearnlab import grid
    notebook, root = Path(sys.argv[1]), Path(sys.argv[2])
    runs = [grid.GridRun(notebook, "smoke", {"SEED": s}, root) for s in (0, 1)]
    grid.run_grid(runs, jobs=2)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
def test_workers_and_kernels_do_not_outlive_the_parent(tmp_path, how):
    pids = tmp_path / "kernels.txt"
    notebook = _notebook(tmp_path / "01-sleep.ipynb", SLEEPER, f"PIDS = {str(pids)!r}\n")
    parent = subprocess.Popen([sys.executable, "-c", DRIVER, str(notebook), str(tmp_path / "runs")],
                              env={**os.environ, "UNLEARNLAB_RUNS": str(tmp_path / "runs")})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 2:
        time.sleep(0.5)
    kernels = [int(p) for p in pids.read_text().split()]
    assert len(kernels) == 2, "both runs started"
    workers = [json.loads(m.read_text())["pid"] for m in (tmp_path / "runs").glob("*/*/*/manifest.json")]
    assert len(workers) == 2 and parent.pid not in workers
    parent.send_signal(how)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in workers + kernels):
        time.sleep(0.5)
    assert not [p for p in workers + kernels if _alive(p)], "orphaned workers or kernels"
    for manifest in (tmp_path / "runs").glob("*/*/*/manifest.json"):
        assert json.loads(manifest.read_text())["status"] == "running", "never marked done"


def test_runs_with_parameters_or_another_seed_never_write_the_canonical_results(
        table_notebook, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "runs"))
    canonical = tmp_path / "runs" / "smoke" / "results" / "01-table.csv"
    assert run.main(["--preset", "smoke", "01", "-p", "SCALE=64.0"]) == 0
    assert run.main(["--preset", "smoke", "01", "--seed", "2"]) == 0
    assert not canonical.exists(), "a run with parameters wrote the canonical results"
    own = list((tmp_path / "runs" / "smoke" / "01-table").glob("*/results/01-table.csv"))
    assert len(own) == 2, "each run with parameters has a folder of its own"
    assert run.main(["--preset", "smoke", "01"]) == 0
    assert pd.read_csv(canonical)["score"].tolist() == [0.0, 0.0], "the canonical run: defaults, seed 0"


def test_the_readme_example_with_parameters_goes_to_its_own_folder_at_cpu(monkeypatch, tmp_path):
    """`run --preset cpu 05 -p SHARE=0.05` (the README's example) must leave figures/ and the
    canonical results alone: its run folder is under runs/cpu/05-leaderboard/<key>/."""
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "runs"))
    seen = []
    monkeypatch.setattr(grid, "run_grid", lambda runs, **kw: seen.extend(runs) or [])
    monkeypatch.setattr(grid, "merge", lambda *a, **kw: {})
    before = subprocess.run(["git", "status", "--porcelain"], cwd=paths.REPO_ROOT,
                            capture_output=True, text=True).stdout
    assert run.main(["--preset", "cpu", "05", "-p", "SHARE=0.05"]) == 0
    (point,) = seen
    assert point.parameters == {"SEED": 0, "SHARE": 0.05}
    assert point.folder.parent == tmp_path / "runs" / "cpu" / "05-leaderboard"
    monkeypatch.setenv("UNLEARNLAB_RUN_DIR", str(point.folder))
    assert paths.figures_dir("05-leaderboard", "cpu") == point.folder / "figures"
    assert paths.results_path("05-leaderboard", "cpu").parent == point.folder / "results"
    after = subprocess.run(["git", "status", "--porcelain"], cwd=paths.REPO_ROOT,
                           capture_output=True, text=True).stdout
    assert after == before
