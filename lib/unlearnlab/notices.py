"""Expected events the library reports without stopping: a method whose weights diverged,
a damaged cache entry that is recomputed, a cache that cannot be written.

They are warnings of one category, :class:`UnlearnlabWarning`, so that callers can
filter, record or raise them (``pytest.warns``, ``warnings.catch_warnings``). In a
notebook kernel they print as one line of the cell's output (``warning: ...``) instead of
a stderr block with a source location: :func:`report_as_lines`, installed when the
package is imported inside an IPython kernel.
"""

from __future__ import annotations

import sys
import warnings


class UnlearnlabWarning(UserWarning):
    """An expected event a run reports and goes on from."""


def warn(message: str, stacklevel: int = 2) -> None:
    """Issue an :class:`UnlearnlabWarning` attributed to the caller's caller."""
    warnings.warn(message, UnlearnlabWarning, stacklevel=stacklevel + 1)


def report_as_lines() -> None:
    """Show :class:`UnlearnlabWarning` as ``warning: <message>`` on standard output; every
    other warning as before. Idempotent."""
    previous = warnings.showwarning
    if getattr(previous, "_unlearnlab", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UnlearnlabWarning):
            print(f"warning: {message}", flush=True)
        else:
            previous(message, category, filename, lineno, file, line)

    show._unlearnlab = True
    warnings.showwarning = show


def in_notebook_kernel() -> bool:
    return "ipykernel" in sys.modules
