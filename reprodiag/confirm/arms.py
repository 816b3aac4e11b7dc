"""The arms of an investigation as real retrains, and the facts the policy needs from manifests.

An arm is one pipeline retrained over seeds: the candidate band (the candidate pipeline as it
ran), the baseline band (the baseline pipeline, when it can be retrained as it ran), the seed
replay (the candidate pipeline with the baseline's seeds: one retrain), and one swap arm per
axis that differs and can be put back (the candidate pipeline with the baseline's pinned
snapshot, with its hyperparameters, or with its code: the baseline's commit and patch checked
out as a cached git worktree, reprodiag.retrain.worktree). reprodiag.confirm.policy decides how
many retrains each arm gets; this module turns a request into retrain specs, runs them and hands
back the values.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from reprodiag.confirm.band import code_dir_for, ok_values, run_seeds, run_specs, stored_results
from reprodiag.confirm.identity import IdentityLog
from reprodiag.confirm.options import RetrainOptions
from reprodiag.confirm.policy import BASELINE_BAND, CANDIDATE_BAND, SEED_REPLAY, Axis, Incident
from reprodiag.diagnosis.bar import resolution
from reprodiag.diagnosis.model import AxisDiff, Diagnosis
from reprodiag.diagnosis.plan import UNREADABLE
from reprodiag.diagnosis.seeds import seed_facts
from reprodiag.errors import ReprodiagError
from reprodiag.manifest.model import JSONValue, LockRef, Manifest, SnapshotRef
from reprodiag.noise.store import BAND_SEED_BASE
from reprodiag.retrain.envs import (
    EnvironmentUnavailable,
    alternatives,
    default_cache,
    environment_for,
)
from reprodiag.retrain.seed_result import SeedResult
from reprodiag.retrain.spec import RetrainSpec, spec_from_manifest
from reprodiag.retrain.worktree import CodeUnavailable

SWAPS: Mapping[str, Axis] = {
    "pinned_snapshot": "data",
    "intent_swap": "intent",
    "code_swap": "code",
    "env_swap": "environment",
}


def baseline_seed(manifest: Manifest) -> int | None:
    """The seed a run recorded (torch, else Python, else NumPy), or None."""
    rnd = manifest.randomness
    for value in (rnd.torch_seed, rnd.python_seed, rnd.numpy_seed):
        if isinstance(value, int):
            return value
    return None


@dataclass
class Arms:
    """The arms of one incident: builds each arm's specs, runs them, keeps every result."""

    baseline: Manifest
    candidate: Manifest
    metric: str
    options: RetrainOptions
    planned: frozenset[str]  # keys of the diagnosis' planned retrain checks
    results: dict[str, list[SeedResult]] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)  # retrain manifests per arm
    identity: IdentityLog = field(default_factory=IdentityLog)  # the retrains' identity checks
    # Planned swap arms that cannot run after all (the baseline's commit is not in this
    # repository, its patch does not apply): arm → why, in words.
    unavailable: dict[str, str] = field(default_factory=dict)
    code_dir: str | None = None  # the baseline's code, checked out (the code swap's folder)
    env_python: str | None = None  # the baseline's environment, rebuilt (the env swap's Python)

    def swaps(self) -> dict[Axis, str]:
        """The swap arms that can run: axis → arm (the check's key)."""
        out: dict[Axis, str] = {}
        if "pinned_snapshot" in self.planned and isinstance(self.baseline.data.train, SnapshotRef):
            out["data"] = "pinned_snapshot"
        if "intent_swap" in self.planned:
            out["intent"] = "intent_swap"
        if "code_swap" in self.planned and self._baseline_code() is not None:
            out["code"] = "code_swap"
        if "env_swap" in self.planned and self._baseline_env() is not None:
            out["environment"] = "env_swap"
        return out

    def _baseline_env(self) -> str | None:
        """The baseline's environment rebuilt from its lock (once), or None with the reason."""
        if self.env_python is None and "env_swap" not in self.unavailable:
            try:
                self.env_python = str(rebuilt_python(self.baseline, self.options))
            except ReprodiagError as exc:
                why = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
                others = alternatives(self.baseline.environment)
                self.unavailable["env_swap"] = (
                    f"the baseline's environment cannot be rebuilt: {why}"
                    + (f"; other ways: {'; '.join(others)}" if others else "")
                )
        return self.env_python

    def _baseline_code(self) -> str | None:
        """The baseline's code checked out (once), or None with the reason in `unavailable`."""
        if self.code_dir is None and "code_swap" not in self.unavailable:
            try:
                folder = code_dir_for(self.baseline, self.options)
            except CodeUnavailable as exc:
                self.unavailable["code_swap"] = (
                    f"{exc.message}; {exc.hint}" if exc.hint else exc.message
                )
            else:
                if folder is None:
                    self.unavailable["code_swap"] = "the baseline records no git commit"
                else:
                    self.code_dir = str(folder)
        return self.code_dir

    def stored_band(self) -> list[SeedResult]:
        """Candidate-band seeds already in the band store (they count without a retrain)."""
        stored = stored_results(self.candidate, self.metric, self.options)
        self.results[CANDIDATE_BAND] = list(stored)
        return stored

    def run(self, arm: str, count: int) -> list[SeedResult]:
        """Run `count` retrains of `arm`; their results, one per seed, in seed order."""
        seen = self.results.setdefault(arm, [])
        if arm == CANDIDATE_BAND:
            new = run_seeds(
                self.candidate, self.metric, self.options, count, seen, log=self.identity
            )
        elif arm == BASELINE_BAND:
            new = run_seeds(
                self.baseline,
                self.metric,
                self.options,
                count,
                seen,
                label="baseline-band",
                log=self.identity,
            )
        else:
            specs = [self._spec(arm, seed) for seed in self._seeds(arm, seen, count)]
            done = run_specs(
                specs,
                self.options,
                label=arm.replace("_", "-"),
                pipeline=self.candidate,
                swapped=SWAPS.get(arm),
                log=self.identity,
            )
            self.paths.setdefault(arm, []).extend(r.manifest_path for r in done if r.manifest_path)
            new = [r.to_seed_result() for r in done]
        seen.extend(new)
        return new

    def _seeds(self, arm: str, seen: list[SeedResult], count: int) -> list[int]:
        if arm == SEED_REPLAY:
            replay = baseline_seed(self.baseline)
            return [replay] if replay is not None else []
        # The swap arms use the band's seed sequence: the same seeds as the candidate band's
        # first retrains (common random numbers; judging them as independent is conservative).
        tried = {r.seed for r in seen}
        return [s for s in range(BAND_SEED_BASE, BAND_SEED_BASE + 200) if s not in tried][:count]

    def _spec(self, arm: str, seed: int) -> RetrainSpec:
        spec = arm_spec(self.baseline, self.candidate, arm, seed, self.metric, self.options)
        if arm == "code_swap" and self._baseline_code() is not None:
            return replace(spec, code_dir=self.code_dir)
        if arm == "env_swap" and self._baseline_env() is not None:
            return replace(spec, python=self.env_python)
        return spec


def arm_spec(
    baseline: Manifest,
    candidate: Manifest,
    arm: str,
    seed: int,
    metric: str,
    options: RetrainOptions,
) -> RetrainSpec:
    """The candidate pipeline with `arm`'s axis put back to the baseline's, at `seed`.

    The code swap's folder (the baseline's code checked out) is set by Arms, which checks it out
    once: here the code swap's spec is the candidate's, labelled as the swap.
    """
    train: SnapshotRef | None = None
    eval_ref: SnapshotRef | None = None
    params: Mapping[str, JSONValue] | None = None
    if arm == "pinned_snapshot" and isinstance(baseline.data.train, SnapshotRef):
        # The whole data axis goes back: training set and, when it is pinned, evaluation set
        # (an evaluation set that moved is a data change too).
        train = baseline.data.train
        if isinstance(baseline.data.eval, SnapshotRef) and baseline.data.eval.pinned:
            eval_ref = baseline.data.eval
    elif arm == "intent_swap":
        params = dict(baseline.intent.params)
    label = f"{arm.replace('_', '-')}-seed-{seed}"
    return spec_from_manifest(
        candidate,
        seed=seed,
        label=label,
        out_dir=options.workdir / label,
        train=train,
        eval=eval_ref,
        params=params,
        trainer=options.trainer,
        metric=metric,
        device=options.device,
        timeout_s=options.timeout_s,
        code_dir=code_dir_for(candidate, options),
    )


def incident_for(
    baseline: Manifest,
    candidate: Manifest,
    diagnosis: Diagnosis,
    arms: Arms,
    values: tuple[float, float],
) -> Incident:
    """The policy's view of the incident: values, resolution, budget and which arms exist."""
    gap = diagnosis.gap
    axes = {a.axis: a for a in diagnosis.diff.axes}
    seeds = seed_facts(axes["randomness"].fields)
    others_same = all(a.status == "same" for name, a in axes.items() if name != "randomness")
    swaps = {} if others_same else arms.swaps()
    # Both bands are retrained here, in this environment: an environment only unrecorded (not
    # shown to differ) does not stop the baseline pipeline from being retrained as it ran.
    runnable = (
        not others_same
        and axes["environment"].status != "differs"
        and isinstance(baseline.data.train, SnapshotRef)
        and baseline.data.train.pinned
        and not _unreadable(diagnosis)
    )
    # Code that differs is the baseline's only through the code swap (its worktree): then that
    # arm, when code is the only change, is the baseline pipeline.
    retrainable = runnable and code_same_for_retrains(axes["code"])
    alias = _baseline_arm(diagnosis, baseline, swaps) if runnable else None
    stored = ok_values(arms.stored_band())
    return Incident(
        baseline=values[0],
        candidate=values[1],
        direction=gap.direction,
        metric=gap.metric,
        resolution=resolution(baseline, candidate, gap.metric),
        budget=arms.options.max_retrains,
        swaps=swaps,
        seed_replay="seed_replay" in arms.planned and baseline_seed(baseline) is not None,
        deterministic=seeds.deterministic or _no_torch(baseline, candidate),
        baseline_retrainable=retrainable and alias is None,
        baseline_why=None if retrainable or alias else _baseline_why(baseline, axes, diagnosis),
        baseline_arm=alias,
        identical_pipelines=others_same,
        stored_band=tuple(stored),
    )


# The code fields that say which code a retrain runs: a retrain checks out this commit with this
# change applied (retrain.worktree), whatever else the code axis recorded or left out.
CODE_IDENTITY = ("code.commit", "code.diff_sha256")


def code_same_for_retrains(axis: AxisDiff) -> bool:
    """Whether both pipelines' retrains run the same code: the code axis is the same, or it is
    unversioned only in fields other than the commit and the diff digest, which are recorded and
    equal on both sides (a shell `capture` records no entrypoint: the retrains run the given
    command or trainer for both pipelines alike, at that commit)."""
    if axis.status == "same":
        return True
    if axis.status != "unversioned":
        return False
    fields = {f.path: f.status for f in axis.fields}
    return all(fields.get(path) == "same" for path in CODE_IDENTITY) and not any(
        status == "differs" for status in fields.values()
    )


def _baseline_arm(
    diagnosis: Diagnosis, baseline: Manifest, swaps: Mapping[Axis, str]
) -> str | None:
    """The swap arm whose pipeline is the baseline's own, when exactly one axis differs and
    putting it back gives the baseline pipeline: its seeds then serve as the baseline band too,
    instead of the same pipeline being retrained twice."""
    # Retrains run in this environment, so an environment unrecorded on a side changes nothing
    # between the two arms; every other axis must be the same.
    differing = [
        a
        for a in diagnosis.diff.axes
        if a.axis != "randomness"
        and a.status != "same"
        and not (a.axis == "environment" and a.status == "unversioned")
        and not (a.axis == "code" and code_same_for_retrains(a))
    ]
    if len(differing) != 1 or differing[0].status != "differs":
        return None
    axis = differing[0]
    arm = swaps.get(axis.axis)
    changed = [f.path for f in axis.fields if f.status != "same"]
    if arm == "intent_swap" and all(p.startswith("intent.params.") for p in changed):
        return arm
    if arm == "code_swap" and all(p.startswith(CODE_SWAPPED) for p in changed):
        return arm
    if arm == "pinned_snapshot":
        eval_ref = baseline.data.eval
        eval_back = isinstance(eval_ref, SnapshotRef) and eval_ref.pinned
        if eval_back or not any(p.startswith("data.eval") for p in changed):
            return arm
    return None


# The code fields the code swap puts back (the rest of the code axis, its lock, stays the
# candidate's: retrains run in this environment).
CODE_SWAPPED = ("code.commit", "code.branch", "code.dirty", "code.diff_sha256", "code.patch")


def _baseline_why(
    baseline: Manifest, axes: Mapping[Axis, AxisDiff], diagnosis: Diagnosis
) -> str | None:
    """Why the baseline pipeline cannot be retrained here, and what would make it possible."""
    train = baseline.data.train
    if not (isinstance(train, SnapshotRef) and train.pinned):
        return (
            "its training data was read unpinned (as 'latest'), so there is no snapshot to "
            "retrain it on; a baseline manifest that names the table version it read (if the "
            "table's history still holds it) would make it retrainable, and pinning the snapshot "
            "in the job makes the next incident settle this way"
        )
    if _unreadable(diagnosis):
        return (
            "its training snapshot cannot be read again; restoring that version, or keeping "
            "pinned versions from vacuum from now on, would make it retrainable"
        )
    if axes["environment"].status == "differs":
        return (
            "its environment differs from this one and every retrain runs here; retraining "
            "both pipelines in the baseline's recorded environment would settle it"
        )
    if axes["code"].status == "differs":
        return (
            "its code differs together with another axis, and no retrain here runs the "
            "baseline's commit with every other axis put back as well"
        )
    if not code_same_for_retrains(axes["code"]):
        missing = [f.path for f in axes["code"].fields if f.status == "unversioned"]
        return (
            "its code is not identified: "
            + (", ".join(missing[:3]) or "the code axis")
            + " not recorded, so no retrain here can be shown to run the baseline's code; "
            "capturing the commit and its uncommitted change (a git checkout) would make it "
            "retrainable"
        )
    return None


def _unreadable(diagnosis: Diagnosis) -> bool:
    # Only the skip for an unreadable snapshot counts: the check is skipped too when both runs
    # read the same pinned snapshot, and then the baseline pipeline is as retrainable as can be.
    check = next((c for c in diagnosis.checks if c.key == "pinned_snapshot"), None)
    return check is not None and check.status == "skipped" and UNREADABLE in (check.observed or "")


def _no_torch(baseline: Manifest, candidate: Manifest) -> bool:
    # The determinism flags are torch's; a run that used no torch (scikit-learn, XGBoost, a plain
    # script) is deterministic for a fixed seed unless it says otherwise.
    return not any(isinstance(m.environment.torch_version, str) for m in (baseline, candidate))


def rebuilt_python(baseline: Manifest, options: RetrainOptions) -> Path:
    """The interpreter of the baseline's environment rebuilt from its lock with uv
    (reprodiag.retrain.envs; cached under options.env_cache, else REPRODIAG_ENV_CACHE, else
    ~/.cache/reprodiag/envs), at the baseline's Python version when it recorded another one than
    this interpreter's."""
    lock = baseline.code.lock
    if not isinstance(lock, LockRef):
        raise EnvironmentUnavailable(
            "no_packages", f"the baseline recorded no lock ({lock.reason})"
        )
    # environment.python is "CPython 3.11.9": its X.Y, when it is not this interpreter's
    found = re.search(r"(\d+)\.(\d+)", str(baseline.environment.python))
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = f"{found[1]}.{found[2]}" if found and f"{found[1]}.{found[2]}" != here else None
    cache = options.env_cache if options.env_cache is not None else default_cache()
    return environment_for(lock, cache, python=python, say=options.say)
