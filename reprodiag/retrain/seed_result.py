"""One seed's result in a noise band: the record the band store keeps and a Diagnosis shows.

It lives in the retrain layer, the lowest layer that produces it, so that the band store (noise),
the confirmation layer and the Diagnosis record can all use it without an upward import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SeedResult:
    """A finished seed retrain: its metric value, or why it failed."""

    seed: int
    metric: float | None
    status: Literal["ok", "failed"]
    reason: str | None = None
    seconds: float | None = None
