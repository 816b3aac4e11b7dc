"""Running one probe: a failure becomes a Skipped fact with its reason, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reprodiag.manifest.model import Fact, SkipKind, Skipped

T = TypeVar("T")


class FactSkip(Exception):
    """A fact that cannot be captured here; the message is the reason recorded in the manifest and
    `kind` its kind (by default the class's: not_applicable, a fact that does not apply here)."""

    default_kind: SkipKind = "not_applicable"

    def __init__(self, reason: str, kind: SkipKind | None = None) -> None:
        """`kind` None: the class's `default_kind`."""
        super().__init__(reason)
        self.kind: SkipKind = self.default_kind if kind is None else kind


def run_fact(probe: Callable[..., T], *args: object) -> Fact[T]:
    """Run one probe; `FactSkip` or any other failure becomes a `Skipped` fact."""
    try:
        return probe(*args)
    except FactSkip as e:
        return Skipped(str(e), e.kind)
    except Exception as e:  # one failing probe never sinks the others
        return Skipped(f"probe failed: {type(e).__name__}: {e}", "failed")
