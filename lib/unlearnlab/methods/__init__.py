"""Unlearning methods behind one registry and one call signature.

Importing this package registers every method; see :mod:`unlearnlab.methods.base` for
the contract.
"""

from . import (  # noqa: F401  (registers the methods)
    bad_teacher,
    baselines,
    boundary,
    l2ul,
    lrp,
    manipulation,
    salun,
    scrub,
    ssd,
    unsir,
)
from .base import (
    ACCESSORS,
    DataAccessError,
    MethodResult,
    MethodSpec,
    UnlearningRequest,
    get_method,
    list_methods,
    register,
    run_method,
)

__all__ = [
    "ACCESSORS", "DataAccessError", "MethodResult", "MethodSpec", "UnlearningRequest",
    "get_method", "list_methods", "register", "run_method",
]
