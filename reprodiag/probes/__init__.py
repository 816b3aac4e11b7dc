"""Probes: the facts behind each axis, seeding, and the capture context manager.

`reprodiag.capture(...)` (a plain function, re-exported by the root package) is defined in
`reprodiag.probes.run`. The folder is called `probes` so that no subpackage shadows that function.
"""

from reprodiag.probes.run import Run, capture
from reprodiag.probes.session import Intent

__all__ = ["Intent", "Run", "capture"]
