"""Is a retrain the pipeline it stands for? Its own manifest, checked field by field.

Every retrain captures its own manifest. Before its value is judged or stored, that manifest is
compared with what the retrain was asked to be: the pipeline's code (commit, diff digest) and
environment (the lock's digest, Python, torch and the libraries that change bits:
reprodiag.noise.fingerprint.pipeline_identity), and the spec's data (training and evaluation
snapshots), hyperparameters and seed, which already carry a swap arm's deliberate change. The
axis a swap arm changes on purpose (`swapped`: code or environment, whose expected values come
from the pipeline's manifest) is not compared.

A field that differs makes the retrain invalid: "not the pipeline it stands for: code.commit is
1f2e…, the pipeline's is 9a8b…". A field unrecorded on either side is not a mismatch; it is
noted ("code.commit is not recorded by the pipeline: not a git repository"), so the report can
say what could not be verified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reprodiag.errors import InputError
from reprodiag.manifest.model import (
    Axis,
    Fact,
    JSONValue,
    LockRef,
    Manifest,
    Skipped,
    SnapshotRef,
)
from reprodiag.noise.fingerprint import pipeline_identity
from reprodiag.retrain.spec import RetrainResult, RetrainSpec

NOT_THE_PIPELINE = "not the pipeline it stands for"
_SNAPSHOT_FIELDS = ("uri", "version", "table_id", "fingerprint")


@dataclass(frozen=True)
class Identity:
    """The verdict on one retrain: the fields that differ (each in words) and the notes on the
    fields that could not be compared."""

    mismatches: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no compared field differs."""
        return not self.mismatches

    @property
    def reason(self) -> str:
        """The failure reason of an invalid retrain (empty for a valid one)."""
        return f"{NOT_THE_PIPELINE}: {'; '.join(self.mismatches)}" if self.mismatches else ""


@dataclass
class IdentityLog:
    """What the identity checks of one investigation found: the refused retrains (label →
    reason) and every note, in the order they came."""

    refused: dict[str, str] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)  # an ordered set

    def add(self, label: str, identity: Identity) -> None:
        """Record one retrain's check."""
        if not identity.ok:
            self.refused[label] = identity.reason
        for note in identity.notes:
            self.notes.setdefault(note)


def check_identity(
    pipeline: Manifest, spec: RetrainSpec, retrain: Manifest, swapped: Axis | None = None
) -> Identity:
    """Compare the retrain's manifest with the pipeline it stands for (module docstring)."""
    # The swapped axis is left out on both sides: it differs on purpose, and is not "unrecorded".
    keep = {"code": swapped != "code", "environment": swapped != "environment"}
    expected: dict[str, JSONValue | Skipped] = dict(pipeline_identity(pipeline, **keep))
    found = pipeline_identity(retrain, **keep)
    for name in ("train", "eval"):
        asked: SnapshotRef = getattr(spec, name)
        got = getattr(retrain.data, name)
        for key in _SNAPSHOT_FIELDS:
            path = f"data.{name}.{key}"
            expected[path] = getattr(asked, key)
            found[path] = (
                getattr(got, key)
                if isinstance(got, SnapshotRef)
                else got
                if isinstance(got, Skipped)
                else Skipped("no snapshot recorded")
            )
    for key in set(spec.params) | set(retrain.intent.params):
        path = f"intent.params.{key}"
        expected[path] = spec.params.get(key, Skipped("absent"))
        found[path] = retrain.intent.params.get(key, Skipped("absent"))
    expected["randomness.seed"] = spec.seed
    found["randomness.seed"] = _seed(retrain)
    identity = _compare(expected, found)
    if keep["environment"]:
        identity = _with_package_changes(identity, pipeline, retrain)
    return identity


LOCK_DIGEST = "code.lock.sha256"
SHOWN_PACKAGES = 5


def _with_package_changes(identity: Identity, pipeline: Manifest, retrain: Manifest) -> Identity:
    """A differing lock digest says which packages differ, when both locks name their pins: a
    digest alone sends the reader to diff two freezes by hand."""
    old, new = pipeline.code.lock, retrain.code.lock
    if not (
        isinstance(old, LockRef) and isinstance(new, LockRef) and old.packages and new.packages
    ):
        return identity
    from reprodiag.diagnosis.content import lock_diff

    changes = lock_diff(old.packages, new.packages)
    if not changes:
        return identity
    words = []
    for change in changes[:SHOWN_PACKAGES]:
        if change.kind == "added":
            words.append(f"{change.name} {change.candidate} here, not in the pipeline's")
        elif change.kind == "removed":
            words.append(f"{change.name} {change.baseline} in the pipeline's, not here")
        else:
            words.append(
                f"{change.name} {change.candidate} here, {change.baseline} in the pipeline's"
            )
    more = f", and {len(changes) - SHOWN_PACKAGES} more" if len(changes) > SHOWN_PACKAGES else ""
    detail = f" (packages: {'; '.join(words)}{more})"
    mismatches = tuple(
        m + detail if m.startswith(f"{LOCK_DIGEST} is ") else m for m in identity.mismatches
    )
    return dataclasses.replace(identity, mismatches=mismatches)


def _compare(
    expected: Mapping[str, JSONValue | Skipped], found: Mapping[str, JSONValue | Skipped]
) -> Identity:
    mismatches, notes = [], []
    for path in sorted(set(expected) | set(found)):
        want = expected.get(path, Skipped("absent"))
        got = found.get(path, Skipped("absent"))
        if isinstance(want, Skipped) and want.kind == "not_applicable":
            continue  # it does not apply to the pipeline (torch's version, for a run without it)
        if isinstance(want, Skipped) and isinstance(got, Skipped):
            notes.append(f"{path} is recorded by neither the pipeline nor the retrain")
        elif isinstance(want, Skipped):
            notes.append(f"{path} is not recorded by the pipeline ({want.reason})")
        elif isinstance(got, Skipped):
            notes.append(f"{path} is not recorded by the retrain ({got.reason})")
        elif not _same(want, got):
            mismatches.append(f"{path} is {_short(got)}, the pipeline's is {_short(want)}")
    return Identity(tuple(mismatches), tuple(notes))


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # True is not 1 here
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _seed(manifest: Manifest) -> Fact[int]:
    """The base seed a retrain recorded: torch's, else Python's (reprodiag seeds both with it)."""
    rnd = manifest.randomness
    for value in (rnd.torch_seed, rnd.python_seed):
        if isinstance(value, int):
            return value
    return rnd.python_seed


def _short(value: object) -> str:
    text = str(value)
    if text.startswith("sha256:") and len(text) > 19:
        return text[:19] + "…"
    if len(text) == 40 and all(c in "0123456789abcdef" for c in text):  # a commit
        return text[:12]
    return text if len(text) <= 80 else text[:77] + "…"


def verify_result(
    pipeline: Manifest,
    spec: RetrainSpec,
    result: RetrainResult,
    swapped: Axis | None = None,
    log: IdentityLog | None = None,
) -> RetrainResult:
    """`result` when its manifest is the pipeline it stands for; else the same retrain failed
    with the reason (never judged, never stored). A failed retrain is returned as it is; an ok
    one without a readable manifest is refused, since nothing shows what it ran."""
    if result.status != "ok":
        return result
    identity = _identity_of(pipeline, spec, result, swapped)
    if log is not None:
        log.add(result.label, identity)
    if identity.ok:
        return result
    return RetrainResult.failed(spec, identity.reason, result.seconds, result.manifest_path)


def _identity_of(
    pipeline: Manifest, spec: RetrainSpec, result: RetrainResult, swapped: Axis | None
) -> Identity:
    from reprodiag.manifest.load import load_manifest

    if result.manifest_path is None:
        return Identity(("it wrote no manifest to show what it ran",))
    try:
        retrain = load_manifest(Path(result.manifest_path))
    except InputError as exc:
        return Identity((f"its manifest cannot be read ({exc.message})",))
    return check_identity(pipeline, spec, retrain, swapped)


def refused_lines(log: IdentityLog) -> tuple[str, ...]:
    """Where refused retrains went, for the report's spending list: each reason once, with how
    many retrains it refused and which."""
    by_reason: dict[str, list[str]] = {}
    for label, reason in log.refused.items():
        by_reason.setdefault(reason, []).append(label)
    return tuple(
        f"{len(labels)} × refused ({', '.join(labels[:3])}{', …' if len(labels) > 3 else ''}): "
        f"{reason}; never judged, not stored in the band store"
        for reason, labels in by_reason.items()
    )


def identity_warnings(log: IdentityLog) -> tuple[str, ...]:
    """What the identity checks could not verify, as one warning (none when all was verified)."""
    if not log.notes:
        return ()
    notes = list(log.notes)
    shown = "; ".join(notes[:6]) + (f"; and {len(notes) - 6} more" if len(notes) > 6 else "")
    return (f"Retrains checked against the pipeline they stand for, except: {shown}.",)
