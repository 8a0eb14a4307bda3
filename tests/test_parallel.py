"""Work shared between processes: the cache computes an entry once under concurrent
workers, and the runner's pool runs notebooks side by side, reporting each failure."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import nbformat

from unlearnlab import cache, execute, run


def _cached_in_worker(runs: str, log: str) -> list[int]:
    """A worker process: ask the cache for one entry whose computation is slow."""
    os.environ["UNLEARNLAB_RUNS"] = runs

    def compute():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        return {"values": [1, 2, 3]}

    return cache.cached("lock-test", {"key": 1}, compute)["values"]


def test_concurrent_workers_compute_a_cache_entry_once(tmp_path):
    log = tmp_path / "computed.log"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(_cached_in_worker, [(str(tmp_path), str(log))] * 2)
    assert results == [[1, 2, 3], [1, 2, 3]]
    assert len(log.read_text().split()) == 1, "the second worker waited and loaded the entry"
    assert not list((tmp_path / "cache").glob("*.tmp"))


def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('PRESET = "cpu"\nSEED = 0', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_pool_runs_notebooks_side_by_side_and_reports_failures(tmp_path, capsys):
    threads = _notebook(tmp_path / "01-threads.ipynb",
                        "import os, torch\nprint(os.environ['UNLEARNLAB_THREADS'], torch.get_num_threads())")
    broken = _notebook(tmp_path / "02-broken.ipynb", "raise RuntimeError('broken on purpose')")
    runs, failures = run.run_canonical([threads, broken], "smoke", output_dir=tmp_path / "out", jobs=2)
    assert [r.notebook for r in runs] == ["01-threads"]
    assert len(failures) == 1 and "02-broken.ipynb failed in cell" in failures[0]
    assert "RuntimeError: broken on purpose" in failures[0]
    executed = nbformat.read(tmp_path / "out" / "01-threads.ipynb", as_version=4)
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert executed.cells[-1].outputs[0]["text"].split() == [str(expected), str(expected)]
    assert "[2/2]" in capsys.readouterr().out


def test_one_job_attempts_every_notebook_after_a_failure(tmp_path):
    """One failure rule for one job and for many: a failing notebook never stops the rest."""
    broken = _notebook(tmp_path / "01-broken.ipynb", "raise RuntimeError('broken on purpose')")
    fine = _notebook(tmp_path / "02-fine.ipynb", "print('ran')")
    runs, failures = run.run_canonical([broken, fine], "smoke", output_dir=tmp_path / "out", jobs=1)
    assert [r.notebook for r in runs] == ["02-fine"] and len(failures) == 1


def test_the_local_executor_reports_exceptions_as_outcomes():
    outcomes = dict(execute.run_local(_fails_on_two, [1, 2, 3], jobs=1))
    assert outcomes[1] == (1, None) and outcomes[3] == (3, None)
    assert isinstance(outcomes[2], ValueError)


def _fails_on_two(item: int, threads):
    if item == 2:
        raise ValueError("two")
    return item, threads


def test_execution_order_puts_00_first_then_the_longest():
    names = [Path(n) for n in ("01-a.ipynb", "00-b.ipynb", "05-c.ipynb", "03-d.ipynb")]
    assert [p.stem for p in execute.execution_order(names)] == ["00-b", "05-c", "03-d", "01-a"]
