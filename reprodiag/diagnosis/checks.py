"""The checks, in cost order (DESIGN.md): five free ones run on the manifests, paid ones planned.

Each check says what it expects if its axis is the cause, what would falsify that, and (when run)
what it observed, naming the fields and values from the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from reprodiag.diagnosis.model import AxisDiff, Check, CheckVerdict, FieldDiff, ManifestDiff
from reprodiag.diagnosis.notes import show, snapshot_words
from reprodiag.diagnosis.seeds import SeedFacts, seed_facts
from reprodiag.errors import InputError
from reprodiag.manifest.codec import to_jsonable
from reprodiag.manifest.model import Axis, Manifest, SnapshotRef

Probe = Callable[[SnapshotRef], object]

# What each free check expects if its axis is the cause, and what would falsify it.
_FREE: dict[Axis, tuple[int, str, str, str]] = {
    "code": (
        1,
        "compare code commit, lock digest, dirty diff",
        "a different commit, dependency lock or uncommitted diff",
        "the same commit and lock sha256 on both sides, with clean trees",
    ),
    "environment": (
        2,
        "compare image digest, GPU type, library versions, precision and thread flags",
        "a different image, GPU, torch / CUDA version, thread count or precision flag",
        "every environment fact recorded on both sides and equal",
    ),
    "intent": (
        3,
        "compare hyperparameters and ablations",
        "different hyperparameters or ablation flags",
        "the same params and ablations recorded on both sides",
    ),
    "data": (
        4,
        "compare snapshot references; is the baseline's snapshot still readable?",
        "a different training or evaluation snapshot, or one that cannot be identified "
        "(read as latest)",
        "both runs read the same pinned snapshots (same uri, version and fingerprint)",
    ),
    "randomness": (
        5,
        "were all four seeds and the determinism flags recorded, and equal?",
        "seeds or determinism flags missing or different, or nondeterministic kernels",
        "all four seeds and the determinism flags recorded and equal, with "
        "deterministic algorithms on",
    ),
}
_KEY_FIELDS = {
    "code": ("code.commit", "code.lock.sha256", "code.dirty"),
    "environment": (
        "environment.container_image",
        "environment.torch_version",
        "environment.gpu_name",
        "environment.threads",
    ),
    "intent": ("intent.params", "intent.ablations"),
}
_VERDICT: dict[str, CheckVerdict] = {
    "differs": "candidate",
    "unversioned": "unversioned",
    "same": "rules_out",
}


@dataclass(frozen=True)
class Readability:
    """Whether the baseline's training snapshot can be read again (check 4)."""

    checked: bool
    readable: bool | None
    words: str


def free_checks(
    baseline: Manifest, candidate: Manifest, diff: ManifestDiff, readability: Readability
) -> tuple[Check, ...]:
    """The checks that need no retrain, one per axis, in report order: what each axis's diff
    shows and whether it rules the axis out."""
    axes = {a.axis: a for a in diff.axes}
    seeds = seed_facts(axes["randomness"].fields)
    checks = []
    for key, (order, title, expected, falsified_by) in _FREE.items():
        axis = axes[key]
        if key == "data":
            observed, verdict = (
                _data_observed(baseline, candidate, readability),
                _VERDICT[axis.status],
            )
        elif key == "randomness":
            observed, verdict = seeds.words(), _randomness_verdict(seeds, axis)
        else:
            observed, verdict = observe(axis), _VERDICT[axis.status]
        checks.append(
            Check(
                order=order,
                key=key,
                title=title,
                axis=key,
                cost="free",
                retrains=0,
                status="done",
                expected=expected,
                falsified_by=falsified_by,
                observed=observed,
                verdict=verdict,
                evidence=_evidence(axis),
            )
        )
    return tuple(sorted(checks, key=lambda c: c.order))


def _randomness_verdict(seeds: SeedFacts, axis: AxisDiff) -> CheckVerdict:
    if axis.status == "same" and not seeds.deterministic:
        return "candidate"
    return _VERDICT[axis.status]


def _evidence(axis: AxisDiff) -> tuple[str, ...]:
    return tuple(f.path for f in axis.fields if f.status != "same")


def observe(axis: AxisDiff, limit: int = 4) -> str:
    """`code.commit 4f1c2e9 → 9a8b7c6; lock.sha256 same`: differences first, then key facts."""
    differing = [f for f in axis.fields if f.status == "differs"]
    parts = [f"{f.path} {show(f.baseline)} → {show(f.candidate)}" for f in differing[:limit]]
    if len(differing) > limit:
        parts.append(f"{len(differing) - limit} more field(s) differ")
    parts.extend(unrecorded_words(axis.fields))
    same = {f.path: f for f in axis.fields if f.status == "same"}
    for path in _KEY_FIELDS.get(axis.axis, ()):
        inside = [p for p in same if p == path or p.startswith(path + ".")]
        if inside and not any(f.path.startswith(path) for f in axis.fields if f.status != "same"):
            parts.append(f"{path.split('.', 1)[1]} same{_values_of(path, same)}")
    if not differing and axis.status == "same":
        parts.insert(0, f"all {len(axis.fields)} recorded fields equal")
    return "; ".join(parts)


def _values_of(path: str, same: dict[str, FieldDiff]) -> str:
    if path in same:
        return "" if same[path].note else f" ({show(same[path].baseline)})"
    keys = [
        f"{p.removeprefix(path + '.')} {show(f.baseline)}"
        for p, f in sorted(same.items())
        if p.startswith(path + ".")
    ]
    return f" ({', '.join(keys)})"


def unrecorded_words(fields: tuple[FieldDiff, ...] | list[FieldDiff]) -> list[str]:
    """`not recorded on the baseline: cuda, gpu_name`, one phrase per side."""
    parts = []
    for side in ("baseline", "candidate", "both"):
        names = [
            f.path.split(".", 1)[1]
            for f in fields
            if f.status == "unversioned" and f.unversioned_side == side
        ]
        if names:
            where = "on either side" if side == "both" else f"on the {side}"
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            parts.append(f"not recorded {where}: {shown}")
    return parts


def _data_observed(baseline: Manifest, candidate: Manifest, readability: Readability) -> str:
    parts = []
    for role in ("train", "eval"):
        b = to_jsonable(getattr(baseline.data, role))
        c = to_jsonable(getattr(candidate.data, role))
        if b == c and getattr(getattr(baseline.data, role), "pinned", False):
            parts.append(f"{role}: the same pinned snapshot {snapshot_words(b)}")
        elif b == c:
            parts.append(f"{role}: both read {show(b, 120)}")
        else:
            parts.append(f"{role}: {show(b, 120)} → {show(c, 120)}")
    parts.append(f"baseline training snapshot: {readability.words}")
    return "; ".join(parts)


def baseline_readability(
    baseline: Manifest, *, enabled: bool = True, probe: Probe | None = None
) -> Readability:
    """Check 4's second half. Never fails the diagnosis: what could not be checked says why."""
    ref = baseline.data.train
    if not isinstance(ref, SnapshotRef):
        return Readability(False, None, "not checked: the baseline recorded no training snapshot")
    if not ref.pinned:
        return Readability(False, None, "not checked: the baseline read unpinned data")
    if not enabled:
        return Readability(False, None, "not checked: the snapshot check was turned off")
    remote = "://" in ref.uri and not ref.uri.startswith("file://")
    if remote and probe is None:  # a probe given storage options (--storage-option) may try it
        return Readability(
            False,
            None,
            f"not checked: {ref.uri} is not a local path (object stores need storage options)",
        )
    local = ref.uri.removeprefix("file://")
    if not remote and not os.path.exists(local):
        return Readability(False, None, f"not checked: {local} does not exist on this machine")
    try:
        (probe or _reopen)(ref)
    except InputError as exc:
        return Readability(True, False, "not readable: " + str(exc).replace("\n  Tip: ", "; tip: "))
    return Readability(
        True, True, f"readable: {snapshot_words(to_jsonable(ref))} can be read again"
    )


def _reopen(ref: SnapshotRef) -> object:
    """reopen() raises (InputError) when the snapshot can no longer be read."""
    from reprodiag.snapshots import reopen  # deltalake, pyiceberg, dvc load only when checked

    return reopen(ref)
