"""The classified diff: every fact of two manifests on its axis as same, differs or unversioned.

The walk follows `reprodiag.manifest.iter_facts` (same dotted paths, map keys walked per key), but
walks both manifests side by side so that a fact skipped as a whole on one side (`data.train`) and
captured field by field on the other is one unversioned row, not five half-empty ones.

Rules (DESIGN.md "The diagnosis, as data flows"):
- same: both sides known and equal; differs: both known and unequal;
- unversioned: skipped or absent on one side or both (`unversioned_side` says which). One exception:
  a key present in only one side's `intent.params` or `intent.ablations` *differs* (the mapping is
  the whole of what the trainer was given, so a missing key is a known "not set", not a lost fact);
- a snapshot read as latest (not pinned) makes its `version` unversioned even when the uri is equal;
  a files snapshot pinned by its content fingerprint has no version to compare: that row is same;
- not applicable: a fact that exists only for some runs (a GPU on a CPU run, a feature store that
  was not given, a hypothesis nobody stated), skipped on *both* sides for the *same* reason, is same
  with a note: nothing differs and nothing was lost. `NOT_APPLICABLE` lists these rules by the
  skip's kind (not_given, not_applicable), never by its words; a fact skipped on both sides for
  any other kind (failed: git not found) stays unversioned;
- noise (NOISE_FIELDS and everything under run.* and results.*) goes to `ManifestDiff.noise` when it
  differs and never into an axis; metrics (results.metrics.*) are the gap and output digests
  (results.outputs.*) the bit-exact bar (diagnosis/outputs.py), not diff fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, get_args

from reprodiag.diagnosis.model import (
    AxisDiff,
    FieldDiff,
    FieldRoot,
    FieldStatus,
    ManifestDiff,
    Side,
)
from reprodiag.diagnosis.notes import annotate
from reprodiag.diagnosis.seeds import is_seed_param
from reprodiag.manifest.codec import skipped_of, to_jsonable
from reprodiag.manifest.model import (
    AXES,
    NOISE_FIELDS,
    SKIP_KINDS,
    Axis,
    Manifest,
    SkipKind,
    Skipped,
)

_ABSENT: Any = object()  # a key one side does not have (typed Any: it travels with JSON values)
_NOISE_ROOTS = ("run", "results")
_NOT_FACTS = ("schema", "results.metrics", "results.outputs")
# Mappings that hold everything the trainer was given: a missing key is "not set" (see module doc).
_COMPLETE_MAPS = ("intent.params", "intent.ablations")
_SNAPSHOTS = ("data.train", "data.eval")
_GPU_FACTS = tuple(
    f"environment.{n}"
    for n in (
        "cuda",
        "cudnn",
        "nccl",
        "gpu_name",
        "gpu_count",
        "gpu_uuids",
        "driver",
        "cuda_driver",
    )
)
_STATED_INTENT = tuple(
    f"intent.{n}" for n in ("family", "experiment", "hypothesis", "tier", "owner")
)


# Descriptive code facts: the commit and the diff digest identify the code; where it was pushed
# or which branch pointed at it does not change a bit of it. Missing on both sides, they are not
# a hole in the code axis.
_DESCRIPTIVE_CODE = ("code.remote", "code.branch")


# (paths, kinds): a fact skipped on both sides for the same reason, with a kind listed here, is
# not applicable to either run (see the module docstring). The probes set the kind where they
# skip (a GPU fact on a host without one is not_applicable); a manifest written before kinds
# existed gets the kind its reason implies (manifest.model.implied_kind).
NOT_APPLICABLE: tuple[tuple[tuple[str, ...], frozenset[SkipKind]], ...] = (
    (("data.feature_store", "data.labeling_pipeline"), frozenset({"not_given"})),
    (_GPU_FACTS, frozenset({"not_applicable"})),
    (_STATED_INTENT, frozenset({"not_given"})),
    (_DESCRIPTIVE_CODE, frozenset(SKIP_KINDS)),
)


def diff_manifests(baseline: Manifest, candidate: Manifest) -> ManifestDiff:
    """Classify every fact of the two manifests by axis; noise kept apart; notes attached."""
    rows = [annotate(row) for row in _classify(baseline, candidate)]
    noise = tuple(r for r in rows if r.noise and r.status == "differs")
    axes = tuple(
        _axis_diff(axis, [r for r in rows if r.axis == axis and not r.noise]) for axis in AXES
    )
    same_family, family_note = family_check(baseline, candidate)
    return ManifestDiff(axes=axes, noise=noise, same_family=same_family, family_note=family_note)


# Facts that describe a run without changing a bit of what it trains: where the code was pushed,
# the experiment's name, the hypothesis, the tier, tags, the owner. They are shown in the diff
# but never make an axis a candidate or unversioned on their own.
DESCRIPTIVE = (
    "code.remote",
    "code.branch",
    "intent.experiment",
    "intent.hypothesis",
    "intent.tier",
    "intent.owner",
    "intent.tags",
)
DESCRIPTIVE_NOTE = "descriptive: does not change what is trained"


def is_descriptive(path: str) -> bool:
    """True for a dotted path that describes the run (experiment, hypothesis, tier, owner, tags)
    without changing what is trained."""
    return any(path == d or path.startswith(d + ".") for d in DESCRIPTIVE)


def _axis_diff(axis: Axis, fields: list[FieldDiff]) -> AxisDiff:
    fields = [
        replace(f, note=f.note or DESCRIPTIVE_NOTE)
        if is_descriptive(f.path) and f.status != "same"
        else f
        for f in fields
    ]
    statuses = {f.status for f in fields if not is_descriptive(f.path)}
    status: FieldStatus = "same"
    if "differs" in statuses:
        status = "differs"
    elif "unversioned" in statuses:
        status = "unversioned"
    return AxisDiff(axis=axis, status=status, fields=tuple(sorted(fields, key=lambda f: f.path)))


def _classify(baseline: Manifest, candidate: Manifest) -> Iterator[FieldDiff]:
    pinned = {p: (_pinned(baseline, p), _pinned(candidate, p)) for p in _SNAPSHOTS}
    for path, b, c in _pair_walk("", to_jsonable(baseline), to_jsonable(candidate)):
        if path in _NOT_FACTS or path.startswith(("results.metrics.", "results.outputs.")):
            continue
        row = _field(path, b, c)
        if path.endswith((".version", ".table_id")) and path.rsplit(".", 1)[0] in pinned:
            row = _snapshot_version(row, *pinned[path.rsplit(".", 1)[0]])
        yield row


def _pair_walk(prefix: str, b: Any, c: Any) -> Iterator[tuple[str, Any, Any]]:
    if _is_tree(b) and _is_tree(c) and (b or c):
        for key in sorted(set(b) | set(c)):
            yield from _pair_walk(
                f"{prefix}.{key}" if prefix else key, b.get(key, _ABSENT), c.get(key, _ABSENT)
            )
    elif (_is_tree(b) and b and c is _ABSENT) or (_is_tree(c) and c and b is _ABSENT):
        # A whole mapping on one side only (a nested param): walk it so rows stay per key.
        for key in sorted(b if b is not _ABSENT else c):
            yield from _pair_walk(
                f"{prefix}.{key}",
                b[key] if b is not _ABSENT else _ABSENT,
                c[key] if c is not _ABSENT else _ABSENT,
            )
    else:
        yield prefix, b, c


def _is_tree(value: Any) -> bool:
    return isinstance(value, dict) and not _is_skipped(value)


def _is_skipped(value: Any) -> bool:
    return skipped_of(value) is not None


def _unknown(value: Any) -> bool:
    return value is _ABSENT or _is_skipped(value)


def _root(path: str) -> FieldRoot:
    """The axis (or "run"/"results") a dotted manifest path lies under."""
    head = path.split(".", 1)[0]
    return next(root for root in get_args(FieldRoot) if root == head)


def _field(path: str, b: Any, c: Any) -> FieldDiff:
    # A seed logged as a hyperparameter (intent.params.seed, random_state) seeds generators: it is
    # a randomness fact (diagnosis/seeds.py), not an intent change.
    axis: FieldRoot = "randomness" if is_seed_param(path) else _root(path)
    noise = path in NOISE_FIELDS or axis in _NOISE_ROOTS
    b_out, c_out = (None if b is _ABSENT else b), (None if c is _ABSENT else c)
    skipped = skipped_of(b)
    c_skipped = skipped_of(c)
    if skipped is not None and (
        (skipped == c_skipped and _not_applicable(path, skipped))
        or (skipped.kind == "not_applicable" and c_skipped and c_skipped.kind == "not_applicable")
    ):
        reasons = dict.fromkeys((skipped.reason, c_skipped.reason if c_skipped else ""))
        return FieldDiff(
            path,
            axis,
            "same",
            b,
            c,
            noise=noise,
            note="not applicable on either side: " + "; ".join(r for r in reasons if r),
        )
    if _unknown(b) or _unknown(c):
        if (
            _in_complete_map(path)
            and not (_unknown(b) and _unknown(c))
            and not _is_skipped(b)
            and not _is_skipped(c)
        ):
            return FieldDiff(path, axis, "differs", b_out, c_out, noise=noise)
        side: Side = (
            "both" if _unknown(b) and _unknown(c) else "baseline" if _unknown(b) else "candidate"
        )
        return FieldDiff(
            path, axis, "unversioned", b_out, c_out, noise=noise, unversioned_side=side
        )
    return FieldDiff(path, axis, "same" if b == c else "differs", b_out, c_out, noise=noise)


def _not_applicable(path: str, skipped: Skipped) -> bool:
    return any(path in paths and skipped.kind in kinds for paths, kinds in NOT_APPLICABLE)


def _in_complete_map(path: str) -> bool:
    return any(path.startswith(root + ".") for root in _COMPLETE_MAPS)


def _pinned(manifest: Manifest, path: str) -> bool | None:
    """Whether the snapshot at `data.train` / `data.eval` is pinned; None when it was skipped."""
    ref = getattr(manifest.data, path.split(".")[1])
    pinned = getattr(ref, "pinned", None)
    return pinned if isinstance(pinned, bool) else None


def _snapshot_version(row: FieldDiff, b_pinned: bool | None, c_pinned: bool | None) -> FieldDiff:
    skipped = skipped_of(row.baseline)
    same = row.baseline == row.candidate
    if row.unversioned_side == "both" and b_pinned and c_pinned and same and skipped is not None:
        # Files snapshots pinned by their content fingerprint: no version or table id exists.
        return replace(
            row,
            status="same",
            unversioned_side=None,
            note=f"not applicable on either side: {skipped.reason}",
        )
    return row


def family_check(baseline: Manifest, candidate: Manifest) -> tuple[bool, str | None]:
    """Two runs are from different model families when (first match wins):

    1. intent.family is known on both sides and differs;
    2. code.entrypoint is known on both sides and differs (a different trainer);
    3. the training table and the evaluation table both changed identity (uri or table id): the
       runs neither learn from nor are judged on the same data.
    A moved snapshot *version* of the same table is a data change inside one family, never rule 3.
    """
    suffix = (
        "; the diff is still shown, but a comparison across model families rarely means a "
        "regression"
    )
    for path in ("intent.family", "code.entrypoint"):
        b, c = _known(baseline, path), _known(candidate, path)
        if b is not None and c is not None and b != c:
            return False, f"{path} differs: {b} vs {c}{suffix}"
    moved = [role for role in ("train", "eval") if _table_moved(baseline, candidate, role)]
    if moved == ["train", "eval"]:
        return False, (
            "both the training table and the evaluation table differ "
            f"({_table(baseline, 'train')} vs {_table(candidate, 'train')}){suffix}"
        )
    return True, None


def _known(manifest: Manifest, path: str) -> Any:
    axis, name = path.split(".")
    value = getattr(manifest.axis(axis), name)
    return value if isinstance(value, str) else None


def _table(manifest: Manifest, role: str) -> str | None:
    ref = getattr(manifest.data, role)
    return getattr(ref, "uri", None)


def _table_moved(baseline: Manifest, candidate: Manifest, role: str) -> bool:
    b, c = getattr(baseline.data, role), getattr(candidate.data, role)
    if not hasattr(b, "uri") or not hasattr(c, "uri"):
        return False
    ids = (b.table_id, c.table_id)
    ids_differ = all(isinstance(i, str) for i in ids) and ids[0] != ids[1]
    return bool(b.uri != c.uri or ids_differ)


def fields_by_path(diff: ManifestDiff) -> Mapping[str, FieldDiff]:
    """Every non-noise field of the diff, keyed by its dotted path."""
    return {f.path: f for axis in diff.axes for f in axis.fields}
