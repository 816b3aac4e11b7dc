"""The bit-exact bar from two manifests alone: are the recorded output digests equal?

A run records sha256 digests of its weights, its evaluation predictions and its output files at
capture (`Run.log_outputs`, `reprodiag capture --weights-digest ...`). Two runs whose every
digest recorded by both is equal are bit-exact; one digest that differs means they are not; and
when no output was recorded by both runs, the manifests cannot tell (None), whatever the metrics
say. Nothing here reads a file or imports torch: the manifests carry everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reprodiag.diagnosis.seeds import join_words
from reprodiag.manifest.model import Manifest, OutputDigests

DigestStatus = Literal["equal", "differ", "unrecorded"]
Side = Literal["baseline", "candidate"]


@dataclass(frozen=True)
class DigestComparison:
    """One output of the pair: "weights", "predictions" or "file NAME", with both digests."""

    output: str
    status: DigestStatus
    baseline: str | None  # "sha256:<hex>", or None when this run did not record it
    candidate: str | None
    unrecorded_side: Side | None = None  # which run lacks the digest, when status is unrecorded


@dataclass(frozen=True)
class OutputsComparison:
    """Every output digest of the pair and the bar they meet.

    bit_exact: True when every digest recorded by both runs is equal (and there is at least
    one), False when one differs, None when no output was recorded by both runs.
    """

    digests: tuple[DigestComparison, ...]
    bit_exact: bool | None
    reason: str  # the verdict in words, naming what differs or what is missing

    @property
    def differing(self) -> tuple[DigestComparison, ...]:
        """The outputs whose digests differ."""
        return tuple(d for d in self.digests if d.status == "differ")

    @property
    def unrecorded(self) -> tuple[DigestComparison, ...]:
        """The outputs recorded by one run only."""
        return tuple(d for d in self.digests if d.status == "unrecorded")


def compare_outputs(baseline: Manifest, candidate: Manifest) -> OutputsComparison:
    """Compare the output digests the two manifests recorded; pure, no file is read."""
    b, c = _digests(baseline.results.outputs), _digests(candidate.results.outputs)
    rows = tuple(_compare(name, b.get(name), c.get(name)) for name in _ordered(b, c))
    compared = [r for r in rows if r.status != "unrecorded"]
    differ = [r.output for r in rows if r.status == "differ"]
    missing = _missing(rows)
    if differ:
        return OutputsComparison(
            rows, False, f"not bit-exact: the digests of {join_words(differ)} differ"
        )
    if compared:
        equal = join_words([r.output for r in compared])
        return OutputsComparison(
            rows, True, f"bit-exact: the digests of {equal} are equal{missing}"
        )
    if not rows:
        return OutputsComparison(
            rows, None, "cannot tell: neither run recorded output digests (log_outputs)"
        )
    return OutputsComparison(rows, None, f"cannot tell: no output recorded by both runs{missing}")


def _digests(outputs: OutputDigests | None) -> dict[str, str]:
    if outputs is None:
        return {}
    found = {f"file {f.name}": f.sha256 for f in outputs.files}
    if outputs.predictions is not None:
        found["predictions"] = outputs.predictions
    if outputs.weights is not None:
        found["weights"] = outputs.weights
    return found


def _ordered(b: dict[str, str], c: dict[str, str]) -> list[str]:
    """Weights first, then predictions, then files by name."""
    rank = {"weights": 0, "predictions": 1}
    return sorted(set(b) | set(c), key=lambda name: (rank.get(name, 2), name))


def _compare(name: str, b: str | None, c: str | None) -> DigestComparison:
    if b is not None and c is not None:
        return DigestComparison(name, "equal" if b == c else "differ", b, c)
    side: Side = "baseline" if b is None else "candidate"
    return DigestComparison(name, "unrecorded", b, c, side)


def _missing(rows: tuple[DigestComparison, ...]) -> str:
    holder = {"baseline": "candidate", "candidate": "baseline"}
    parts = [
        f"{r.output} recorded by the {holder[r.unrecorded_side or 'candidate']} only"
        for r in rows
        if r.status == "unrecorded"
    ]
    return f" ({'; '.join(parts)})" if parts else ""
