"""Capturing a run: probe the five axes before training, write the manifest when it ends.

    with reprodiag.capture("runs/monday.json", train=snap, eval=eval_snap, seeds=seeds,
                           params=params, experiment="ctr", tier="shipped") as run:
        metrics = train(...)
        run.log_metrics(metrics, directions={"log_loss": "lower"})

The tier is checked on entry, before any training starts: a shipped run on unsnapshotted data is
refused with every missing fact listed. The manifest is written atomically on exit, also when
training raised (status "failed", with the error), so a crash still leaves its record.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from reprodiag.errors import InputError
from reprodiag.manifest.model import (
    DIRECTIONS,
    IntentAxis,
    JSONValue,
    Metric,
    Skipped,
    SnapshotRef,
)

if TYPE_CHECKING:
    from typing import SupportsFloat, TypeAlias

    from _typeshed import DataclassInstance

    from reprodiag.snapshots.interface import Snapshot

    # What capture(train=..., eval=...) takes: a pinned Snapshot, its ref, a table path or uri.
    SnapshotArg: TypeAlias = Snapshot | SnapshotRef | Skipped | str | os.PathLike[str] | None

R = TypeVar("R", bound="DataclassInstance")  # an axis record


def utc_now() -> str:
    """The current time in UTC as ISO 8601 to the second, e.g. "2024-05-01T12:00:00+00:00"."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reprodiag")
    except PackageNotFoundError:
        return "0+unknown"


def all_skipped(cls: type[R], reason: str) -> R:
    """An axis record whose every fact is skipped (kind failed): what a probe that crashed
    outright leaves."""
    values: dict[str, Skipped] = {}
    for f in dataclasses.fields(cls):
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if not has_default:
            values[f.name] = Skipped(reason, "failed")
    return cls(**values)


def _guard(probe: Callable[[], R], cls: type[R], what: str) -> R:
    try:
        return probe()
    except Exception as exc:  # one failing probe never sinks the manifest
        return all_skipped(cls, f"{what} probe failed: {type(exc).__name__}: {exc}")


def snapshot_fact(value: SnapshotArg, role: str) -> SnapshotRef | Skipped:
    """A Snapshot handle, a SnapshotRef, a uri (opened and pinned now) or None."""
    if value is None:
        return Skipped(f"no {role} snapshot given to capture", "not_given")
    if isinstance(value, (SnapshotRef, Skipped)):
        return value
    ref = getattr(value, "ref", None)
    if isinstance(ref, SnapshotRef):
        return ref
    if isinstance(value, (str, os.PathLike)):
        from reprodiag.snapshots import open_snapshot

        return open_snapshot(os.fspath(value)).ref
    raise InputError(
        f"capture: {role}= got {type(value).__name__}",
        hint="pass a snapshot from reprodiag.snapshots.open_snapshot(...), a SnapshotRef, "
        "or a table path or uri",
    )


@dataclasses.dataclass(frozen=True)
class Intent:
    """What the run meant to do: axis 5, as the user states it."""

    family: str | None = None
    experiment: str | None = None
    run_name: str | None = None
    hypothesis: str | None = None
    params: Mapping[str, JSONValue] = dataclasses.field(default_factory=dict)
    ablations: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    tier: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    owner: str | None = None

    def to_axis(self) -> IntentAxis:
        """The intent axis of the manifest; a name not given becomes a skipped fact saying so."""

        def fact(value: str | None, name: str) -> str | Skipped:
            return value if value is not None else Skipped(f"no {name} given", "not_given")

        return IntentAxis(
            family=fact(self.family, "model family"),
            experiment=fact(self.experiment, "experiment"),
            run_name=fact(self.run_name, "run name"),
            hypothesis=fact(self.hypothesis, "hypothesis"),
            params=dict(self.params),
            ablations={k: bool(v) for k, v in self.ablations.items()},
            tier=fact(self.tier, "tier"),
            tags={str(k): str(v) for k, v in self.tags.items()},
            owner=fact(self.owner, "owner"),
        )


def metric_record(
    name: str,
    value: SupportsFloat | str,
    direction: str,
    resolution: SupportsFloat | str | None = None,
) -> Metric:
    """A finite metric with its direction and, when stated, its positive finite resolution."""
    if direction not in DIRECTIONS:
        raise InputError(f"metric {name!r}: direction {direction!r} is not 'higher' or 'lower'")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"metric {name!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(
            f"metric {name!r} is {number}: a manifest records finite metrics only",
            hint="a NaN or infinite metric means the run diverged; fix it or record it as failed",
        )
    return Metric(number, direction, _resolution(name, resolution))  # type: ignore[arg-type]


def _resolution(name: str, value: SupportsFloat | str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"metric {name!r}: resolution {value!r} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        raise InputError(
            f"metric {name!r}: resolution {value!r} is not a positive finite number",
            hint="the resolution is the metric's smallest step, e.g. 100 / 2000 = 0.05 points "
            "for accuracy in percent on 2,000 evaluation rows",
        )
    return number
