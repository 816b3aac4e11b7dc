"""Running one probe: a failure becomes a Skipped fact with its reason, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reprodiag.manifest.model import Fact, Skipped


class FactSkip(Exception):
    """A fact that does not apply here; the message is the reason recorded in the manifest."""


def run_fact(probe: Callable[..., Any], *args: Any) -> Fact[Any]:
    """Run one probe; `FactSkip` or any other failure becomes a `Skipped` fact."""
    try:
        return probe(*args)
    except FactSkip as e:
        return Skipped(str(e))
    except Exception as e:  # one failing probe never sinks the others
        return Skipped(f"probe failed: {type(e).__name__}: {e}")
