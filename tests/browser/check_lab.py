"""JupyterLab in a real browser, as a newcomer uses it: open a notebook under ``make
lab PRESET=smoke``, run every cell, save, reopen, and check what the repository
promises (docs/running.md, *JupyterLab*):

- the notebook runs at smoke without an edited cell (smoke's dataset, digits, in its output);
- each cell that loops shows at most one progress bar per loop, and no stderr block;
- after saving, ``git status`` of the clone is clean;
- after reopening, no "Error displaying widget".

Not part of ``make test`` (it needs Chromium and Selenium, which the project does not
install); the same save path is tested without a browser by
``tests/test_notebooks.py::test_saving_in_a_jupyter_server_leaves_git_status_clean``.
Run it with a Python that has selenium, Chromium and chromedriver installed::

    python tests/browser/check_lab.py --venv .venv --notebook 05-leaderboard
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clone(venv: Path, into: Path) -> Path:
    """A clone of the committed repository with ``make setup``'s git filter."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(into)], check=True)
    strip = f'"{venv / "bin" / "python"}" -m unlearnlab.lab strip'
    for key, value in (("filter.nbstripout.clean", strip), ("filter.nbstripout.smudge", "cat"),
                       ("diff.ipynb.textconv", f"{strip} --textconv")):
        subprocess.run(["git", "config", key, value], cwd=into, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=REPO / ".venv")
    parser.add_argument("--notebook", default="00-train-original")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # what `make lab` does first: the kernel's display name is the one the notebooks carry
    subprocess.run([str(args.venv / "bin" / "python"), "-m", "ipykernel", "install", "--sys-prefix",
                    "--name", "python3", "--display-name", "Python 3"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="lab-check-"))
    clone = _clone(args.venv.resolve(), work / "repo")
    port, token = _free_port(), "check"
    env = {k: v for k, v in os.environ.items() if k != "UNLEARNLAB_QUIET"}
    env.update(UNLEARNLAB_PRESET="smoke", UNLEARNLAB_RUNS=str(work / "runs"))
    server = subprocess.Popen(
        [str(args.venv / "bin" / "jupyter"), "lab", f"--ServerApp.root_dir={clone}", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--no-browser", "--allow-root",
         "--FileContentsManager.preferred_dir=notebooks",
         "--FileContentsManager.pre_save_hook=unlearnlab.lab.strip_before_save"],
        env=env, stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options)
    url = f"http://127.0.0.1:{port}/lab/tree/notebooks/{args.notebook}.ipynb?token={token}"
    report: dict = {"notebook": args.notebook}
    try:
        _wait(lambda: _answers(f"http://127.0.0.1:{port}/api/status?token={token}"), 180, "the Lab server")
        browser.get(url)
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 120, "the notebook")
        _wait(lambda: "Idle" in browser.find_element(By.CSS_SELECTOR, "body").text or
              browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']"),
              120, "the kernel")
        _menu(browser, By, "Run", "Run All Cells")
        start = time.time()
        _wait(lambda: _finished(browser, By), args.timeout, "every cell to run")
        report["seconds"] = round(time.time() - start, 1)
        text = "\n".join(o.text for o in browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-OutputArea"))
        report["ran_at_smoke"] = "digits" in text  # smoke's dataset, in the outputs of the setup cells
        report["stderr_outputs"] = len(browser.find_elements(
            By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"))
        cells = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
        report["most_outputs_in_one_cell"] = max(
            len(c.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-child")) for c in cells)
        report["progress_bars"] = len(browser.find_elements(By.CSS_SELECTOR, ".widget-hprogress, progress"))
        if args.screenshot:
            browser.save_screenshot(str(args.screenshot))
        browser.find_element(By.CSS_SELECTOR, ".jp-Notebook").click()
        browser.find_element(By.CSS_SELECTOR, "body").send_keys(Keys.CONTROL, "s")
        time.sleep(3)
        report["git_status_after_save"] = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
        browser.get(url)
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 120, "the reopened notebook")
        time.sleep(5)
        report["widget_errors_after_reopen"] = browser.find_element(By.CSS_SELECTOR, "body").text.count(
            "Error displaying widget")
    finally:
        browser.quit()
        server.terminate()
    print(json.dumps(report, indent=1))
    ok = (report["ran_at_smoke"] and report["stderr_outputs"] == 0 and report["git_status_after_save"] == ""
          and report["widget_errors_after_reopen"] == 0)
    return 0 if ok else 1


def _wait(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            found = condition()
        except Exception:  # the page is still building
            found = None
        if found:
            return found
        time.sleep(1)
    raise TimeoutError(f"waited {seconds:.0f} s for {what}")


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _menu(browser, by, top: str, item: str) -> None:
    browser.find_element(by.XPATH, f"//li[contains(@class,'lm-MenuBar-item')][.//div[text()='{top}']]").click()
    time.sleep(1)
    browser.find_element(by.XPATH, f"//li[contains(@class,'lm-Menu-item')][.//div[text()='{item}']]").click()


def _finished(browser, by) -> bool:
    """Every code cell has an execution count and none is waiting (``[*]``)."""
    prompts = [p.text for p in browser.find_elements(by.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")]
    return bool(prompts) and all(p.strip() not in ("[ ]:", "[*]:", "") for p in prompts)


if __name__ == "__main__":
    sys.exit(main())
