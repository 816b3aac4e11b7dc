"""Capture: the probes behind each axis, seeding, and the capture context manager.

DESIGN.md asks for `reprodiag.capture(...)` in training code while the subsystem folder is also
named `capture`. Importing a submodule rebinds `reprodiag.capture` to this package, so a plain
function of that name would be shadowed. The package is therefore made callable: calling it is
calling `reprodiag.capture.run.capture`.
"""

import sys
import types
from typing import Any

from reprodiag.capture.run import Run, capture
from reprodiag.capture.session import Intent

__all__ = ["Intent", "Run", "capture"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Run:
        return capture(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
