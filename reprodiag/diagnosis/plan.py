"""The paid checks, planned in cost order (DESIGN.md 6-8, then the intent swap and the code swap):
what each retrain would expect, what would falsify it, or why it cannot run."""

from __future__ import annotations

from collections.abc import Mapping

from reprodiag.diagnosis.checks import Readability
from reprodiag.diagnosis.diff import fields_by_path
from reprodiag.diagnosis.model import AxisDiff, Check, FieldDiff, Gap, ManifestDiff
from reprodiag.diagnosis.notes import show, snapshot_words
from reprodiag.diagnosis.seeds import SEEDS, SeedFacts, seed_facts
from reprodiag.manifest.codec import to_jsonable
from reprodiag.manifest.model import Axis, LockRef, Manifest, SnapshotRef
from reprodiag.retrain.worktree import CodeUnavailable, recorded_code

# The pinned-snapshot check's skip reason when the baseline's snapshot is gone; the confirmation
# layer looks for it to know the baseline pipeline cannot be retrained.
UNREADABLE = "the baseline's snapshot cannot be read again"


def paid_checks(
    baseline: Manifest, diff: ManifestDiff, gap: Gap, readability: Readability
) -> tuple[Check, ...]:
    """The retrains still to run, in DESIGN.md's order: seed replay, pinned snapshot, noise band,
    then the intent swap (numbered 9: DESIGN.md's table stops at 8) and the code swap (10: a
    worktree checkout before its retrains)."""
    axes = {a.axis: a for a in diff.axes}
    seeds = seed_facts(axes["randomness"].fields)
    checks = [
        _seed_replay(seeds, gap),
        _pinned_retrain(baseline, axes["data"], gap, readability),
        _noise_band(gap),
    ]
    fields = fields_by_path(diff)
    swapped = [
        f
        for p, f in fields.items()
        if f.status == "differs" and p.startswith(("intent.params", "intent.ablations"))
    ]
    if swapped:
        checks.append(_intent_swap(swapped, gap))
    code = [
        f
        for p, f in fields.items()
        if f.status == "differs" and p.startswith(("code.commit", "code.diff_sha256", "code.patch"))
    ]
    if code:
        checks.append(_code_swap(baseline, code, gap))
    environment = _env_swap(baseline, fields, gap)
    if environment is not None:
        checks.append(environment)
    return tuple(checks)


def _values(gap: Gap) -> tuple[str, str]:
    def one(v: float | None) -> str:
        return f"{v:.6g} {gap.metric}" if v is not None else f"its {gap.metric}"

    return one(gap.baseline), one(gap.candidate)


def _planned(
    order: int,
    key: str,
    title: str,
    axis: Axis,
    cost: str,
    retrains: int,
    expected: str,
    falsified_by: str,
    skip: str | None = None,
) -> Check:
    return Check(
        order=order,
        key=key,
        title=title,
        axis=axis,
        cost=cost,
        retrains=retrains,
        status="skipped" if skip else "planned",
        expected=expected,
        falsified_by=falsified_by,
        observed=skip,
        verdict="not_run",
    )


def _seed_replay(seeds: SeedFacts, gap: Gap) -> Check:
    b, c = _values(gap)
    recorded = seeds.recorded("baseline")
    skip = None
    if not recorded:
        skip = "the baseline recorded no seed: there are no seeds to replay"
    elif seeds.ruled_out:
        skip = (
            "the seeds and determinism flags are recorded and equal: a replay would repeat "
            "the candidate run"
        )
    elif not seeds.differing() and set(recorded) <= set(seeds.recorded("candidate")):
        shown = ", ".join(
            f"{n} {show(fd.baseline)}"
            for n, fd in zip(SEEDS, seeds.seeds, strict=True)
            if n in recorded
        )
        skip = (
            f"the candidate already ran with the baseline's recorded seeds ({shown}): a "
            "replay would repeat it; the noise band measures what the unrecorded seeds add"
        )
    # the generators that apply to the baseline's run (torch and CUDA do not without torch)
    applicable = seeds.applicable("baseline")
    partial = (
        ""
        if set(applicable) <= set(recorded)
        else f" (only {', '.join(recorded)} recorded: the rest stay random)"
    )
    return _planned(
        6,
        "seed_replay",
        "seed replay: retrain with the baseline's seeds",
        "randomness",
        "1 retrain",
        1,
        f"if randomness is the cause, the candidate pipeline with the baseline's seeds{partial} "
        f"reproduces the baseline ({b}) exactly, when training is deterministic",
        "with deterministic training, any other value: something besides the seed differs; "
        "without it, one replay is one more draw and decides nothing by itself",
        skip,
    )


def _pinned_retrain(
    baseline: Manifest, data: AxisDiff, gap: Gap, readability: Readability
) -> Check:
    b, c = _values(gap)
    ref = baseline.data.train
    skip = None
    if not isinstance(ref, SnapshotRef) or not ref.pinned:
        skip = "the baseline read unpinned data: there is no snapshot to retrain on"
    elif readability.readable is False:
        skip = f"{UNREADABLE}: {readability.words}"
    elif data.status == "same":
        skip = (
            "both runs read the same pinned snapshots: a retrain on it would repeat the candidate"
        )
    where = (
        snapshot_words(to_jsonable(ref)) if isinstance(ref, SnapshotRef) else "the baseline's data"
    )
    return _planned(
        7,
        "pinned_snapshot",
        "pinned-snapshot retrain: candidate pipeline on the baseline's snapshot",
        "data",
        "3..20 retrains, replicated over seeds",
        20,
        f"if data is the cause, the candidate pipeline trained on {where} scores near the baseline "
        f"({b}); the points it recovers are the data's share of the gap",
        f"excluded when the interval of the points it recovers (against the band around the "
        f"candidate, {c}) lies below a quarter of the gap; an interval holding both 0 and a real "
        "share of the gap is can't tell yet",
        skip,
    )


def _noise_band(gap: Gap) -> Check:
    b, _ = _values(gap)
    return _planned(
        8,
        "noise_band",
        "noise band: seed retrains of the candidate pipeline, sequential",
        "randomness",
        "3..20 retrains",
        20,
        f"if randomness alone explains the gap, the baseline ({b}) lies inside the band "
        "ȳ ± k·s of n seed retrains (k = 4.97 at n = 3 … 2.15 at n = 20)",
        "the baseline lies outside the band: T = (a − ȳ) / (s·√(1 + 1/n)) passes the Pocock "
        "boundary p < 0.0175 at a look n = 3, 5, 8, 12, 20 (STATS.md)",
    )


def _intent_swap(swapped: list[FieldDiff], gap: Gap) -> Check:
    b, c = _values(gap)
    params = ", ".join(f"{f.path.split('.', 2)[2]} {show(f.baseline)}" for f in swapped[:4])
    return _planned(
        9,
        "intent_swap",
        "intent swap: candidate pipeline with the baseline's params",
        "intent",
        "3..20 retrains, replicated over seeds",
        20,
        f"if intent is the cause, the candidate pipeline with the baseline's {params} scores near "
        f"the baseline ({b})",
        f"excluded when the interval of the points it recovers (against the band around the "
        f"candidate, {c}) lies below a quarter of the gap; an interval holding both 0 and a real "
        "share of the gap is can't tell yet",
    )


def _code_swap(baseline: Manifest, changed: list[FieldDiff], gap: Gap) -> Check:
    b, c = _values(gap)
    shown = "; ".join(f"{f.path} {show(f.baseline)} → {show(f.candidate)}" for f in changed[:3])
    skip = None
    try:
        commit, patch = recorded_code(baseline.code)
        what = f"commit {commit[:12]}" + (f" with its {patch.size:,}-byte patch" if patch else "")
    except CodeUnavailable as exc:
        skip = f"the baseline's code cannot be checked out: {exc.message}"
        what = "its code"
    return _planned(
        10,
        "code_swap",
        "code swap: candidate pipeline with the baseline's code (commit and patch)",
        "code",
        "a git worktree, then 3..20 retrains, replicated over seeds",
        20,
        f"if code is the cause ({shown}), the candidate pipeline run from the baseline's {what} "
        f"scores near the baseline ({b})",
        f"excluded when the interval of the points it recovers (against the band around the "
        f"candidate, {c}) lies below a quarter of the gap; an interval holding both 0 and a real "
        "share of the gap is can't tell yet",
        skip,
    )


def _env_swap(baseline: Manifest, fields: Mapping[str, FieldDiff], gap: Gap) -> Check | None:
    """The environment swap (11, the most expensive: an environment rebuilt with uv before its
    retrains), when the lock's pins or the recorded library versions differ."""
    pins = [f for p, f in fields.items() if p.startswith("code.lock.packages.")]
    both_pinned = any(f.unversioned_side != "baseline" for f in pins) and any(
        f.unversioned_side != "candidate" for f in pins
    )
    moved = [f for f in pins if f.status != "same"] if both_pinned else []
    lock = fields.get("code.lock.sha256")
    if not both_pinned and lock is not None and lock.status == "differs":
        moved.append(lock)  # pins unknown on a side: the lock's digest is all there is
    moved += [
        f
        for p, f in fields.items()
        if p.startswith("environment.libraries.") and f.status == "differs"
    ]
    if not moved:
        return None
    b, c = _values(gap)
    moved.sort(key=lambda f: f.status != "differs")  # versions that changed before added ones
    shown = "; ".join(
        f"{f.path.removeprefix('code.lock.')} {show(f.baseline)} → {show(f.candidate)}"
        for f in moved[:3]
    ) + (f"; {len(moved) - 3} more" if len(moved) > 3 else "")
    ref = baseline.code.lock
    skip = None
    if not isinstance(ref, LockRef) or not ref.packages:
        where = (
            f"{ref.kind} {ref.path or ''}".strip() if isinstance(ref, LockRef) else "none recorded"
        )
        skip = (
            f"the baseline's lock ({where}) pins no exact version: there is no environment to "
            "rebuild"
        )
        image = baseline.environment.container_image
        if isinstance(image, str):
            skip += f"; its image {image} is recorded (container retrains are not implemented yet)"
    return _planned(
        11,
        "env_swap",
        "environment swap: candidate pipeline in the baseline's environment, rebuilt from its lock",
        "environment",
        "an environment rebuilt with uv, then 3..20 retrains, replicated over seeds",
        20,
        f"if the environment is the cause ({shown}), the candidate pipeline run in the baseline's "
        f"environment scores near the baseline ({b})",
        f"excluded when the interval of the points it recovers (against the band around the "
        f"candidate, {c}) lies below a quarter of the gap; an interval holding both 0 and a real "
        "share of the gap is can't tell yet",
        skip,
    )
