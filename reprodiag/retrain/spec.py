"""What one retrain is (RetrainSpec) and what it gave (RetrainResult), as JSON files.

The executor writes the spec to a file, a worker process reads it, trains, and writes the result
next to it: JSON both ways, never pickle (STYLE.md), so a worker can be another interpreter, a Ray
task or a machine. Storage options (object-store credentials) are deliberately *not* in the spec:
a spec file lands on disk next to logs. A worker reads them from its environment instead (the
executor passes `storage_options` in REPRODIAG_STORAGE_OPTIONS, and the object-store clients read
their usual AWS_* / AZURE_* / GOOGLE_* variables themselves).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

from reprodiag._records import OMIT_WHEN_DEFAULT, RecordError, RecordFormat
from reprodiag.errors import InputError
from reprodiag.manifest.model import (
    DIRECTIONS,
    Direction,
    Fact,
    JSONValue,
    Manifest,
    Skipped,
    SnapshotRef,
)
from reprodiag.retrain.interface import RetrainSpecError
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.retrain.template import check_template

SPEC_FORMAT = "reprodiag.retrain-spec/v1"
RESULT_FORMAT = "reprodiag.retrain-result/v1"
DEVICE_AUTO = "auto"
STORAGE_OPTIONS_ENV = "REPRODIAG_STORAGE_OPTIONS"


@dataclass(frozen=True)
class RetrainSpec:
    """One retrain: the source run's pipeline with one axis (data, params or seed) swapped."""

    label: str  # "noise band seed 1003", "pinned-snapshot retrain"
    trainer: Mapping[str, JSONValue]  # {"entrypoint": "module:function"} or {"command": [argv...]}
    params: Mapping[str, JSONValue]
    seed: int
    train: SnapshotRef
    eval: SnapshotRef
    metric: str  # the metric the diagnosis compares; the others are recorded too
    output_dir: str
    manifest_out: str  # every retrain writes its own manifest here
    device: str = DEVICE_AUTO  # "auto" (cuda:0 when available, else cpu), "cpu", "cuda:N"
    timeout_s: float | None = None
    direction: Direction = "higher"
    directions: Mapping[str, Direction] = field(default_factory=dict)  # of every metric
    # Intent copied from the source manifest. No tier: retrains are never gated.
    family: str | None = None
    experiment: str | None = None
    run_name: str | None = None  # "retrain:noise-band-seed-1003"
    hypothesis: str | None = None
    owner: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # An ensemble spec: these seeds (seed == seeds[0]) trained at once as independent vmapped
    # replicas by the trainer's ensemble form (reprodiag.retrain.ensemble); () is a solo retrain,
    # whose file leaves the field out (it stays exactly what it was before ensembles).
    seeds: tuple[int, ...] = field(default=(), metadata={OMIT_WHEN_DEFAULT: True})
    # Where the pipeline's code is: the folder the worker runs in, imports the trainer from and
    # probes the code axis of (a cached git worktree at the recorded commit with the recorded
    # patch applied: reprodiag.retrain.worktree). None: the executor's own folder.
    code_dir: str | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})
    # The Python interpreter of the environment the retrain runs in (a rebuilt environment for an
    # environment swap: reprodiag.retrain.envs). None: the executor's own interpreter.
    python: str | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})

    def __post_init__(self) -> None:
        if isinstance(self.seeds, list):  # JSON has no tuples
            object.__setattr__(self, "seeds", tuple(self.seeds))
        _check_spec(self)

    @property
    def is_ensemble(self) -> bool:
        """True when the spec trains one model per seed in `seeds` in one worker."""
        return bool(self.seeds)

    @property
    def entrypoint(self) -> str | None:
        """The trainer's `module:function`, or None for a command trainer."""
        entrypoint = self.trainer.get("entrypoint")  # a str: check_trainer ran in __post_init__
        return entrypoint if isinstance(entrypoint, str) else None

    @property
    def command(self) -> tuple[str, ...] | None:
        """The trainer's command line (argv with {placeholders}), or None for an entrypoint
        trainer."""
        command = self.trainer.get("command")  # a list of str: check_trainer ran in __post_init__
        return tuple(str(arg) for arg in command) if isinstance(command, Sequence) else None

    def to_json(self) -> str:
        """The spec file's text: canonical JSON of the `reprodiag.retrain-spec/v1` format."""
        return SPEC.dumps(self)

    @classmethod
    def from_json(cls, text: str, source: str = "retrain spec") -> RetrainSpec:
        """Read a spec file's text; RetrainSpecError names `source` and the field."""
        return _read(SPEC, text, source)


@dataclass(frozen=True)
class RetrainResult:
    """What one retrain produced: its label and seed, ok or failed (and why), its metrics and the
    value of the judged metric, how long it took in seconds, and its manifest's path."""

    label: str
    seed: int
    status: Literal["ok", "failed"]
    metrics: Mapping[str, float]
    metric_value: float | None
    reason: str | None  # why it failed, in words: "timed out after 2 s"
    seconds: float
    manifest_path: str | None
    # An ensemble spec's result: one result per seed, in seed order. The outer result only
    # summarises them ("7 of 8 seeds ok") and is never a seed itself. Left out of a solo's file.
    members: tuple[RetrainResult, ...] = field(default=(), metadata={OMIT_WHEN_DEFAULT: True})

    def to_seed_result(self) -> SeedResult:
        """This result as a noise-band seed: seed, judged metric value, status, reason and
        seconds."""
        return SeedResult(
            seed=self.seed,
            metric=self.metric_value,
            status=self.status,
            reason=self.reason,
            seconds=self.seconds,
        )

    def to_json(self) -> str:
        """The result file's text: canonical JSON of the `reprodiag.retrain-result/v1` format."""
        return RESULT.dumps(self)

    def per_seed(self) -> tuple[RetrainResult, ...]:
        """The seed results this result stands for: its members, or itself for a solo retrain."""
        return self.members or (self,)

    @classmethod
    def from_json(cls, text: str, source: str = "retrain result") -> RetrainResult:
        """Read a result file's text; RetrainSpecError names `source` and the field."""
        return _read(RESULT, text, source)

    @classmethod
    def failed(
        cls, spec: RetrainSpec, reason: str, seconds: float, manifest_path: str | None = None
    ) -> RetrainResult:
        """A failed result for `spec`, with the reason in words and the seconds spent (rounded to
        ms)."""
        return cls(
            label=spec.label,
            seed=spec.seed,
            status="failed",
            metrics={},
            metric_value=None,
            reason=reason,
            seconds=round(seconds, 3),
            manifest_path=manifest_path,
        )


_R = TypeVar("_R", "RetrainSpec", "RetrainResult")
_HINT = "retrain specs are written by reprodiag; re-plan the retrain rather than editing the file"

# reprodiag.retrain-spec/v1: one retrain's inputs (RetrainSpec). Since: `seeds` (ensembles),
# written only when set.
SPEC = RecordFormat(SPEC_FORMAT, RetrainSpec, hint=_HINT)
# reprodiag.retrain-result/v1: what one retrain gave (RetrainResult). Since: `members`
# (ensembles), written only when set.
RESULT = RecordFormat(RESULT_FORMAT, RetrainResult, hint=_HINT)


def _read(form: RecordFormat[_R], text: str, source: str) -> _R:
    """Decode a spec or result file; every error is a RetrainSpecError naming source and field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RetrainSpecError(f"{source}: not valid JSON: {exc}") from None
    try:
        return form.from_json(raw, file=source)
    except RecordError as exc:
        name = exc.json_path.removeprefix("$.")
        raise RetrainSpecError(
            f"{source}: field {name!r}: expected {exc.expected}, found {exc.found}", hint=_HINT
        ) from None
    except InputError as exc:  # an invariant RetrainSpec checks itself (_check_spec)
        raise RetrainSpecError(f"{source}: {exc.message}", hint=exc.hint) from None


def _check_spec(spec: RetrainSpec) -> None:
    def bad(name: str, expected: str, value: object) -> RetrainSpecError:
        return RetrainSpecError(f"field {name!r}: expected {expected}, found {value!r}"[:300])

    for name in ("code_dir", "python"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise bad(name, "a non-empty path or null", value)
    for name in ("label", "metric", "output_dir", "manifest_out", "device"):
        if not isinstance(getattr(spec, name), str) or not getattr(spec, name):
            raise bad(name, "a non-empty string", getattr(spec, name))
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or not 0 <= spec.seed < 2**64:
        raise bad("seed", "an integer in [0, 2**64)", spec.seed)
    if spec.seeds and (
        len(set(spec.seeds)) != len(spec.seeds)
        or spec.seeds[0] != spec.seed
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**64 for s in spec.seeds
        )
    ):
        raise bad("seeds", "distinct integer seeds starting with `seed`", spec.seeds)
    if spec.seeds and spec.command is not None:
        raise bad("seeds", "an entrypoint trainer (a command trains one seed per run)", spec.seeds)
    if spec.timeout_s is not None and (
        isinstance(spec.timeout_s, bool)
        or not isinstance(spec.timeout_s, (int, float))
        or not math.isfinite(spec.timeout_s)
        or spec.timeout_s <= 0
    ):
        raise bad("timeout_s", "a positive number of seconds or null", spec.timeout_s)
    if spec.direction not in DIRECTIONS:
        raise bad("direction", '"higher" or "lower"', spec.direction)
    for name in ("train", "eval"):
        ref = getattr(spec, name)
        if not isinstance(ref, SnapshotRef) or not ref.pinned:
            raise bad(name, "a pinned snapshot (with a version)", ref)
    if not isinstance(spec.params, Mapping):
        raise bad("params", "a JSON object of hyperparameters", spec.params)
    try:
        json.dumps(spec.params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise bad("params", f"JSON values only ({exc})", spec.params) from None
    check_trainer(spec.trainer)


def check_trainer(trainer: object) -> None:
    """{"entrypoint": "module:function"} or {"command": [argv template...]}, exactly one."""
    if not isinstance(trainer, Mapping) or len(trainer) != 1:
        raise RetrainSpecError(
            f"field 'trainer': expected {{'entrypoint': 'module:function'}} or "
            f"{{'command': [...]}}, found {trainer!r}"[:300]
        )
    if "entrypoint" in trainer:
        if not isinstance(trainer["entrypoint"], str) or ":" not in trainer["entrypoint"]:
            raise RetrainSpecError(
                f"field 'trainer.entrypoint': expected 'module:function', "
                f"found {trainer['entrypoint']!r}"
            )
        return
    command = trainer.get("command")
    if (
        not isinstance(command, (list, tuple))
        or not command
        or not all(isinstance(arg, str) for arg in command)
    ):
        raise RetrainSpecError(
            f"field 'trainer.command': expected a non-empty list of strings, found {command!r}"[
                :300
            ]
        )
    check_template(command)


_ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def spec_from_manifest(
    manifest: Manifest,
    *,
    seed: int,
    label: str,
    out_dir: str | Path,
    metric: str,
    train: SnapshotRef | None = None,
    eval: SnapshotRef | None = None,  # noqa: A002
    params: Mapping[str, JSONValue] | None = None,
    trainer: Mapping[str, JSONValue] | None = None,
    device: str = DEVICE_AUTO,
    timeout_s: float | None = None,
    run_name: str | None = None,
    source: str | None = None,
    code_dir: str | Path | None = None,
) -> RetrainSpec:
    """The manifest's pipeline with one axis swapped: `train` / `eval` (data), `params` or `seed`.

    out_dir is this retrain's own folder: the trainer writes under out_dir/output/, the retrain's
    manifest goes to out_dir/manifest.json. `source` names the manifest file in error messages.
    `code_dir` is the folder holding the pipeline's code (reprodiag.retrain.worktree
    .pipeline_code_dir), where the worker runs; None: the executor's own folder.
    """
    name = source or f"run {manifest.run.run_id}"
    eval_ref = eval if eval is not None else _pinned(manifest.data.eval, name, "evaluation")
    train_ref = train if train is not None else _pinned(manifest.data.train, name, "training")
    if not train_ref.pinned:
        raise InputError(
            f"cannot retrain on {train_ref.uri}: the snapshot is not pinned",
            hint="pass open_snapshot(uri, version=N).ref from reprodiag.snapshots",
        )
    folder = Path(out_dir)
    directions = {k: m.direction for k, m in manifest.results.metrics.items()}
    intent = manifest.intent
    return RetrainSpec(
        label=label,
        trainer=dict(trainer) if trainer is not None else _trainer(manifest, name),
        params=dict(intent.params if params is None else params),
        seed=seed,
        train=train_ref,
        eval=eval_ref,
        metric=metric,
        output_dir=str(folder / "output"),
        manifest_out=str(folder / "manifest.json"),
        device=device,
        timeout_s=timeout_s,
        direction=directions.get(metric, "higher"),
        directions=directions,
        family=_known(intent.family),
        experiment=_known(intent.experiment),
        run_name=run_name or f"retrain:{slug(label)}",
        hypothesis=_known(intent.hypothesis),
        owner=_known(intent.owner),
        tags=dict(intent.tags),
        code_dir=str(code_dir) if code_dir is not None else None,
    )


ENSEMBLE_INFIX = "-ensemble-"


def ensemble_spec(solo: RetrainSpec, seeds: Sequence[int], out_dir: str | Path) -> RetrainSpec:
    """`solo`'s pipeline as one ensemble spec training `seeds` at once, in folder `out_dir`.

    Its label is "<solo label without -seed-N>-ensemble-<first seed>-k<K>"; seed s of it is
    `member_spec(spec, s)`: label "<prefix>-seed-s", manifest in out_dir/seed-s/, files in
    out_dir/output/seed-s/. A timeout covers the whole ensemble: K times the solo one.
    """
    seeds = tuple(int(s) for s in seeds)
    prefix = re.sub(r"-seed-\d+$", "", solo.label)
    label = f"{prefix}{ENSEMBLE_INFIX}{seeds[0]}-k{len(seeds)}"
    folder = Path(out_dir)
    return replace(
        solo,
        label=label,
        seed=seeds[0],
        seeds=seeds,
        output_dir=str(folder / "output"),
        manifest_out=str(folder / "manifest.json"),
        run_name=f"retrain:{slug(label)}",
        timeout_s=None if solo.timeout_s is None else solo.timeout_s * len(seeds),
    )


def member_spec(spec: RetrainSpec, seed: int) -> RetrainSpec:
    """Seed `seed` of an ensemble spec as a solo spec: its label, folder and manifest path."""
    prefix = spec.label.rsplit(ENSEMBLE_INFIX, 1)[0]
    label = f"{prefix}-seed-{seed}"
    folder = Path(spec.manifest_out).parent
    timeout = None if spec.timeout_s is None else spec.timeout_s / max(1, len(spec.seeds))
    return replace(
        spec,
        label=label,
        seed=int(seed),
        seeds=(),
        output_dir=str(Path(spec.output_dir) / f"seed-{seed}"),
        manifest_out=str(folder / f"seed-{seed}" / "manifest.json"),
        run_name=f"retrain:{slug(label)}",
        timeout_s=timeout,
    )


def slug(label: str) -> str:
    """'noise band seed 1003' -> 'noise-band-seed-1003': a folder and run name part."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:80] or "retrain"


def _known(value: Fact[str] | None) -> str | None:
    return None if isinstance(value, Skipped) else value


def _pinned(ref: Fact[SnapshotRef], name: str, role: str) -> SnapshotRef:
    if not isinstance(ref, SnapshotRef):
        reason = ref.reason if isinstance(ref, Skipped) else "not recorded"
        raise InputError(
            f"cannot retrain: {name}'s {role} data was not recorded ({reason})",
            hint="capture the run with train= and eval= snapshots from "
            "reprodiag.snapshots.open_snapshot(...)",
        )
    if not ref.pinned:
        raise InputError(
            f"cannot retrain: {name}'s {role} data was not pinned (read as latest): {ref.uri} "
            "cannot be read again as it was",
            hint="retrain on a pinned snapshot instead (train=open_snapshot(uri, version=N).ref), "
            "and capture future runs through reprodiag.snapshots.open_snapshot(...), which "
            "pins the version it reads",
        )
    return ref


def _trainer(manifest: Manifest, name: str) -> dict[str, JSONValue]:
    entrypoint = manifest.code.entrypoint
    if isinstance(entrypoint, str) and _ENTRYPOINT.match(entrypoint):
        return {"entrypoint": entrypoint}
    found = entrypoint.reason if isinstance(entrypoint, Skipped) else repr(entrypoint)
    raise InputError(
        f"cannot retrain: {name} does not name its trainer as module:function ({found})",
        hint="pass --trainer module:function (for example reprodiag.family.mlp:train), or "
        "--command 'python train.py --seed {seed} --metrics {metrics_file}'",
    )


def existing_manifest(spec: RetrainSpec) -> str | None:
    """The retrain's manifest path when the worker got as far as writing it."""
    return spec.manifest_out if Path(spec.manifest_out).exists() else None
