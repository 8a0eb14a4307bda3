"""Notebooks as committed: stripped of outputs and run metadata, whoever writes them.

One function, :func:`strip`, says what a committed notebook holds (sources, cell ids,
tags and the kernel spec) and is used in three places, so that they always agree:

- JupyterLab's save (``make lab`` installs :func:`strip_before_save` as the server's
  pre-save hook): the notebooks under ``notebooks/`` are written stripped, so opening,
  running and saving one leaves ``git status`` clean (outputs stay on screen while the
  notebook is open; executed copies with outputs are what ``python -m unlearnlab.run``
  writes under ``runs/``). Other notebooks are saved as they are.
- git's clean filter and diff text conversion (``make setup`` writes them into this
  clone's ``.git/config``; ``.gitattributes`` names them): what is staged and what
  ``git diff`` shows are the same stripped notebook.
- ``make strip``: ``python -m unlearnlab.lab strip notebooks/*.ipynb``.

Stripping a notebook twice gives the same bytes, and it is what nbstripout does with
these keys (``nbstripout --keep-id --extra-keys ...``).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

#: Metadata removed from a committed notebook: nbstripout's defaults, plus what papermill
#: and JupyterLab write on running and saving.
STRIPPED_KEYS = (
    "metadata.signature", "metadata.widgets", "metadata.papermill", "metadata.language_info",
    "cell.metadata.collapsed", "cell.metadata.ExecuteTime", "cell.metadata.execution",
    "cell.metadata.heading_collapsed", "cell.metadata.hidden", "cell.metadata.scrolled",
    "cell.metadata.papermill",
)


def strip(notebook):
    """The notebook (an ``nbformat`` node or a plain dict) without outputs, execution
    counts and :data:`STRIPPED_KEYS`; cell ids kept. Returns an ``nbformat`` node."""
    import nbformat
    from nbstripout import strip_output

    node = nbformat.from_dict(notebook)
    return strip_output(node, keep_output=False, keep_count=False, keep_id=True,
                        extra_keys=list(STRIPPED_KEYS))


def stripped_text(text: str) -> str:
    """A notebook's JSON text, stripped, as ``nbformat`` writes it (what is committed)."""
    import nbformat

    out = io.StringIO()
    nbformat.write(strip(nbformat.reads(text, as_version=nbformat.NO_CONVERT)), out)
    return out.getvalue()


def strip_before_save(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """Jupyter server pre-save hook: strip the notebooks of ``notebooks/`` (a path relative
    to the server's root, which ``make lab`` sets to the repository) before they are
    written (``--FileContentsManager.pre_save_hook=unlearnlab.lab.strip_before_save``)."""
    if model.get("type") != "notebook" or not model.get("content"):
        return
    if Path(path.lstrip("/")).parts[:1] != ("notebooks",):
        return  # a notebook of the user's own, elsewhere: saved as it is
    model["content"] = strip(model["content"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.lab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("strip",))
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to strip in place; none: standard input to standard "
                             "output (git's clean filter)")
    parser.add_argument("--textconv", type=Path, default=None,
                        help="print FILE stripped (git's diff text conversion)")
    args = parser.parse_args(argv)
    if args.textconv or not args.notebooks:
        text = (args.textconv.read_bytes() if args.textconv else sys.stdin.buffer.read()).decode("utf-8")
        sys.stdout.buffer.write(stripped_text(text).encode("utf-8"))
        return 0
    for notebook in args.notebooks:
        text = notebook.read_text(encoding="utf-8")
        stripped = stripped_text(text)
        if stripped != text:
            notebook.write_text(stripped, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
