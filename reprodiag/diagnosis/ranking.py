"""Ranking the five axes (DESIGN.md "Ranking").

Placement: versioned and identical → ruled_out; versioned and different → candidate; a fact
missing on one side or both → unversioned; a retrain that closed the gap → confirmed (with its
attribution).
Order: confirmed (most points explained first), noise, candidates, unversioned, ruled out; inside a
group (and among candidates, to break ties) the prior order decides: data > randomness >
environment > code > intent by default, configurable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from reprodiag.diagnosis.checks import observe, unrecorded_words
from reprodiag.diagnosis.model import (
    Attribution,
    AxisDiff,
    AxisRank,
    AxisStatus,
    FieldDiff,
    ManifestDiff,
)
from reprodiag.diagnosis.notes import show, snapshot_words
from reprodiag.diagnosis.seeds import seed_facts
from reprodiag.errors import InputError
from reprodiag.manifest.model import AXES, Axis

DEFAULT_PRIOR: tuple[Axis, ...] = ("data", "randomness", "environment", "code", "intent")


class AxisVerdictLike(Protocol):
    """What a retrain showed of one axis (reprodiag.confirm.verdicts.AxisVerdict fits)."""

    @property
    def status(self) -> AxisStatus:
        """The axis' status after the retrains."""
        ...

    @property
    def reason(self) -> str:
        """What the retrains showed, in words; placed before the manifest facts."""
        ...

    @property
    def attribution(self) -> Attribution | None:
        """The points the axis explains, when a retrain measured them."""
        ...


STATUS_ORDER: tuple[AxisStatus, ...] = (
    "confirmed",
    "noise",
    "candidate",
    "cant_tell",  # a retrain ran and could not decide: still as live as an untested candidate
    "unversioned",
    "excluded",  # a retrain showed it explains less than the stated share of the gap
    "ruled_out",
)
_STATUS: dict[str, AxisStatus] = {
    "same": "ruled_out",
    "differs": "candidate",
    "unversioned": "unversioned",
}


def resolve_prior(prior: Sequence[str]) -> tuple[str, ...]:
    """A full prior order: the axes given first, the others after them in the default order."""
    unknown = [a for a in prior if a not in AXES]
    if unknown:
        raise InputError(
            f"unknown axis in the prior order: {', '.join(unknown)}",
            hint="the axes are " + ", ".join(AXES),
        )
    if len(set(prior)) != len(prior):
        raise InputError(
            f"an axis appears twice in the prior order: {', '.join(prior)}",
            hint="name each axis once, e.g. data,randomness,environment,code,intent",
        )
    return tuple(prior) + tuple(a for a in DEFAULT_PRIOR if a not in prior)


def rank_axes(
    diff: ManifestDiff,
    *,
    prior: Sequence[str] = DEFAULT_PRIOR,
    attributions: Mapping[str, Attribution] | None = None,
    verdicts: Mapping[str, AxisVerdictLike] | None = None,
) -> tuple[AxisRank, ...]:
    """One AxisRank per axis, most likely cause first, each with its reason and evidence.

    `verdicts` (axis → reprodiag.confirm.verdicts.AxisVerdict) carry what retrains showed: the
    verdict's status replaces the manifest placement and its words lead the reason.
    """
    order = resolve_prior(prior)
    attributions = attributions or {}
    placed = [_place(axis, attributions.get(axis.axis)) for axis in diff.axes]
    placed = [_apply(rank, (verdicts or {}).get(rank.axis)) for rank in placed]

    def key(rank: AxisRank) -> tuple[int, float, int]:
        points = -rank.attribution.points if rank.attribution else 0.0
        return STATUS_ORDER.index(rank.status), points, order.index(rank.axis)

    return tuple(
        AxisRank(
            rank=i,
            axis=r.axis,
            status=r.status,
            reason=r.reason,
            evidence=r.evidence,
            attribution=r.attribution,
        )
        for i, r in enumerate(sorted(placed, key=key), start=1)
    )


def _place(axis: AxisDiff, attribution: Attribution | None) -> AxisRank:
    status = _STATUS[axis.status]
    evidence = tuple(f.path for f in axis.fields if f.status != "same")
    if axis.axis == "randomness":
        seeds = seed_facts(axis.fields)
        if status == "ruled_out" and not seeds.deterministic:
            status = "candidate"  # equal seeds, but nondeterministic kernels were allowed
        reason = seeds.reason(status)
    elif axis.axis == "data":
        reason = _data_reason(axis, status)
    else:
        reason = _generic_reason(axis, status)
    if attribution is not None:
        status = "confirmed"
        reason = (
            f"a {attribution.check.replace('_', ' ')} retrain explains {attribution.points:g} "
            f"points [{attribution.low:g}, {attribution.high:g}]; " + reason
        )
    return AxisRank(
        rank=0,
        axis=axis.axis,
        status=status,
        reason=reason,
        evidence=evidence,
        attribution=attribution,
    )


# Clauses of a manifest-only reason that say what a retrain would still have to show: once a
# retrain has shown it, they no longer hold and are dropped from the reason.
_PENDING = (
    "noise band needed",
    "cannot be ruled out from the manifests",
    "so seed noise cannot be ruled out",
)


def _apply(rank: AxisRank, verdict: AxisVerdictLike | None) -> AxisRank:
    if verdict is None:
        return rank
    facts = "; ".join(c for c in rank.reason.split("; ") if not any(p in c for p in _PENDING))
    return AxisRank(
        rank=0,
        axis=rank.axis,
        status=verdict.status,
        reason=f"{verdict.reason}; {facts}" if facts else verdict.reason,
        evidence=rank.evidence,
        attribution=verdict.attribution or rank.attribution,
    )


def _differences(fields: Sequence[FieldDiff], limit: int = 3) -> list[str]:
    # What moves results first: fields with a version-aware note, then params and ablations.
    differing = sorted(
        (f for f in fields if f.status == "differs"),
        key=lambda f: (
            f.note is None,
            not f.path.startswith(("intent.params", "intent.ablations")),
        ),
    )
    parts = [f"{f.path} {show(f.baseline)} → {show(f.candidate)}" for f in differing[:limit]]
    if len(differing) > limit:
        parts.append(f"and {len(differing) - limit} more difference(s)")
    return parts


def _generic_reason(axis: AxisDiff, status: AxisStatus) -> str:
    if status == "ruled_out":
        return observe(axis)
    parts = _differences(axis.fields) + unrecorded_words(axis.fields)
    notes = [n for f in axis.fields if f.status == "differs" and f.note for n in f.note.split("; ")]
    parts.extend(list(dict.fromkeys(notes))[:2])
    if status == "unversioned":
        parts.append(f"{axis.axis} cannot be ruled out from the manifests")
    return "; ".join(parts)


def _data_reason(axis: AxisDiff, status: AxisStatus) -> str:
    if status == "ruled_out":
        return "both runs read the same pinned snapshots: data is ruled out"
    parts = []
    for role in ("train", "eval"):
        rows = [
            f
            for f in axis.fields
            if f.path in (f"data.{role}", f"data.{role}.version") and f.status == "unversioned"
        ]
        if rows:
            parts.append(_unpinned_words(rows[0].unversioned_side, role))
            parts.extend(_pinned_side(axis, role, rows[0].unversioned_side))
    parts.extend(_differences(axis.fields))
    notes = [n for f in axis.fields if f.status == "differs" and f.note for n in f.note.split("; ")]
    parts.extend(dict.fromkeys(notes))  # each note once, in field order
    others = [
        f
        for f in axis.fields
        if f.status == "unversioned" and not f.path.startswith(("data.train", "data.eval"))
    ]
    parts.extend(unrecorded_words(others))
    return "; ".join(parts)


def _pinned_side(axis: AxisDiff, role: str, unpinned: str | None) -> list[str]:
    """`the candidate read delta /data/events v7`: the side that did pin, for contrast."""
    if unpinned not in ("baseline", "candidate"):
        return []
    side = "candidate" if unpinned == "baseline" else "baseline"
    ref = {
        f.path.rsplit(".", 1)[1]: (f.candidate if side == "candidate" else f.baseline)
        for f in axis.fields
        if f.path.startswith(f"data.{role}.")
    }
    if not {"format", "uri"} <= set(ref):
        return []
    return [f"the {side} read {snapshot_words(ref)}"]


def _unpinned_words(side: str | None, role: str) -> str:
    if role == "train":
        if side == "both":
            return "both runs read unpinned data: neither training set can be identified or re-read"
        return f"the {side} read unpinned data: its training set cannot be identified or re-read"
    if side == "both":
        return "both runs read an unpinned evaluation set: neither can be identified or re-read"
    return f"the {side} read an unpinned evaluation set: it cannot be identified or re-read"
