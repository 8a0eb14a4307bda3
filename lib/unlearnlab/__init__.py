"""unlearnlab: machine unlearning for image classifiers, four papers side by side."""

from .notices import in_notebook_kernel, report_as_lines

if in_notebook_kernel():
    report_as_lines()
