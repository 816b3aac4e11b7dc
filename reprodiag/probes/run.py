"""The capture context manager and its one-shot twin for shell pipelines."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from reprodiag.errors import InputError
from reprodiag.manifest.codec import write_manifest
from reprodiag.manifest.model import (
    CodeAxis,
    DataAxis,
    Direction,
    EnvironmentAxis,
    JSONValue,
    Manifest,
    Metric,
    OutputDigests,
    RandomnessAxis,
    Results,
    RunInfo,
    Skipped,
)
from reprodiag.probes.session import (
    Intent,
    _guard,
    _version,
    metric_record,
    snapshot_fact,
    utc_now,
)

if TYPE_CHECKING:
    from reprodiag.policy.load import Policy
    from reprodiag.probes.outputs import FilesArg
    from reprodiag.probes.seeds import Seeds
    from reprodiag.probes.session import SnapshotArg


# Words of a metric's name that make smaller better, as trackers infer it (MLflow's and W&B's
# summaries, Keras' "auto" mode): a word of the name (val_loss, test_rmse, error_rate) or a word
# ending in one of LOWER_SUFFIXES (logloss, mlogloss). "neg" in the name (scikit-learn's negated
# scorers: neg_log_loss, neg_mean_squared_error) makes it higher-is-better again.
LOWER_WORDS = frozenset(
    {
        "loss",
        "error",
        "err",
        "mse",
        "rmse",
        "mae",
        "mape",
        "smape",
        "msle",
        "rmsle",
        "nll",
        "perplexity",
        "ppl",
        "wer",
        "cer",
        "brier",
        "deviance",
        "fpr",
        "fnr",
        "eer",
        "latency",
        "regret",
        "divergence",
        "kl",
    }
)
LOWER_SUFFIXES = ("loss", "error")


def infer_direction(name: str) -> Direction:
    """ "lower" when the metric's name says smaller is better (loss, error, mse, rmse, mae,
    perplexity ...: `LOWER_WORDS`), else "higher"; a negated scorer (neg_log_loss) is higher."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    if "neg" in words:
        return "higher"
    lower = any(w in LOWER_WORDS or w.endswith(LOWER_SUFFIXES) for w in words)
    return "lower" if lower else "higher"


def probe_axes(
    *,
    code_root: str | Path,
    entrypoint: str | None,
    seeds: Seeds | RandomnessAxis | None,
    dataloader_seeding: str | None,
) -> tuple[CodeAxis, EnvironmentAxis, RandomnessAxis]:
    """Probe the code, environment and randomness axes, each on its own: one that fails becomes a
    record of skipped facts with the reason, never an exception."""
    from reprodiag.probes.environment import probe_environment
    from reprodiag.probes.git import probe_code
    from reprodiag.probes.seeds import probe_randomness

    code = _guard(lambda: probe_code(Path(code_root), entrypoint), CodeAxis, "code")
    env = _guard(probe_environment, EnvironmentAxis, "environment")
    if isinstance(seeds, RandomnessAxis):  # already built, e.g. by a shell capture
        rnd = seeds
    else:
        rnd = _guard(
            lambda: probe_randomness(seeds, dataloader_seeding), RandomnessAxis, "randomness"
        )
    return code, env, rnd


class Run:
    """One captured training run. Use through `capture(...)`; log metrics, then leave the block."""

    def __init__(
        self,
        path: str | Path,
        *,
        data: DataAxis,
        intent: Intent,
        seeds: Seeds | RandomnessAxis | None = None,
        code_root: str | Path = ".",
        entrypoint: str | None = None,
        dataloader_seeding: str | None = None,
        output_dir: str | Path | None = None,
        policy: Policy | None = None,
        captured_by: str = "api",
        primary_metric: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_id = uuid.uuid4().hex
        self._data, self._intent, self._seeds, self._policy = data, intent, seeds, policy
        self._code_root, self._entrypoint, self._dl = code_root, entrypoint, dataloader_seeding
        self._output_dir = output_dir
        self._captured_by = captured_by
        self._metrics: dict[str, Metric] = {}
        self._primary = primary_metric
        self._outputs: OutputDigests | None = None
        self._started = Skipped("the run was not started", "not_recorded")
        self.manifest: Manifest | None = None
        self._axes: tuple[CodeAxis, EnvironmentAxis, RandomnessAxis] | None = None
        self._library_seeds: dict[str, str] = {}
        self._estimator_options: dict[str, dict[str, JSONValue]] = {}

    def log_metric(
        self,
        name: str,
        value: float,
        direction: str | None = None,
        *,
        resolution: float | None = None,
    ) -> None:
        """Record one metric. `direction`: "higher" or "lower" is better; None infers it from the
        name as trackers do (`infer_direction`: loss, error, mse, rmse, mae, perplexity ... are
        lower-is-better). `resolution` is its smallest step, in its units, when known."""
        direction = infer_direction(str(name)) if direction is None else direction
        self._metrics[str(name)] = metric_record(str(name), value, direction, resolution)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        directions: Mapping[str, str] | None = None,
        *,
        primary: str | None = None,
        resolution: Mapping[str, float] | None = None,
    ) -> None:
        """Record metrics. `directions` maps a metric to "higher" or "lower" (is better); a
        metric not in it gets the direction its name implies (`infer_direction`: log_loss, rmse,
        val_error are lower-is-better, anything else higher). `primary` names the one the run is
        judged on (diagnoses default to it; with one metric logged in all, that one is the
        primary); `resolution` maps a metric to its smallest step, e.g.
        {"accuracy": 100 / len(test_rows)} for accuracy in percent."""
        unknown = sorted(set(resolution or {}) - set(metrics))
        if unknown:
            raise InputError(
                f"resolution given for {', '.join(map(repr, unknown))}, which is not among the "
                f"metrics logged here ({', '.join(sorted(metrics)) or 'none'})",
                hint="give a metric's resolution in the same log_metrics call as its value",
            )
        for name, value in metrics.items():
            self.log_metric(
                name,
                value,
                (directions or {}).get(name),
                resolution=(resolution or {}).get(name),
            )
        if primary is not None:
            self.set_primary_metric(primary)

    def set_primary_metric(self, name: str) -> None:
        """Name the metric the run is judged on; it must be logged by the time the run ends."""
        if name not in self._metrics:
            raise InputError(
                f"primary metric {name!r} is not among the logged metrics "
                f"({', '.join(sorted(self._metrics)) or 'none yet'})",
                hint="log the metric first, or name one of the logged metrics as primary",
            )
        self._primary = str(name)

    def log_estimator(self, estimator: object, name: str = "model") -> dict[str, str]:
        """Record what a fitted or configured estimator says about randomness and threads: its
        seed parameters (random_state, seed, bagging_seed ...) go to randomness.library_seeding
        as "<name>.<param>", its thread and determinism parameters (n_jobs, num_threads,
        deterministic, tree_method ...) to environment.frameworks[<framework>] as
        "<name>.<param>". Works with every estimator that has scikit-learn's get_params()
        (scikit-learn, XGBoost's and LightGBM's scikit-learn wrappers). Returns the seeds read."""
        from reprodiag.probes.frameworks import estimator_facts, framework_of

        seeds, options = estimator_facts(estimator)
        self._library_seeds.update({f"{name}.{k}": v for k, v in seeds.items()})
        framework = framework_of(estimator) or type(estimator).__module__.split(".")[0]
        entry = self._estimator_options.setdefault(framework, {})
        entry.update({f"{name}.{k}": v for k, v in options.items()})
        return seeds

    def log_outputs(
        self,
        weights: object = None,
        predictions: object = None,
        files: FilesArg = (),
    ) -> OutputDigests:
        """Record sha256 digests of what the run produced: the bit-exact reproducibility bar.

        weights: a torch module, a state_dict, a mapping of arrays (a scikit-learn estimator's
        fitted arrays: {"coef_": est.coef_, "intercept_": est.intercept_}), one array, or a
        digest already computed ("sha256:<hex>"). predictions: the evaluation predictions as an
        array or tensor (any device), or a digest. files: output file paths (named relative to
        the run's output folder when inside it) or a mapping name -> path; streamed, never read
        whole. Call it again to add files; a later weights or predictions digest replaces the
        earlier one. Returns everything recorded so far.
        """
        from reprodiag.probes.outputs import output_digests

        root = Path(self._output_dir) if self._output_dir else None
        return self.record_outputs(
            output_digests(weights=weights, predictions=predictions, files=files, root=root)
        )

    def record_outputs(self, digests: OutputDigests) -> OutputDigests:
        """Merge digests computed elsewhere (a retrain's TrainContext) into this run's record."""
        from reprodiag.probes.outputs import merge_outputs

        self._outputs = merge_outputs(self._outputs, digests)
        return self._outputs

    def start(self) -> Run:
        """Probe the axes and enforce the tier before training: refuse early, not after hours."""
        self._axes = probe_axes(
            code_root=self._code_root,
            entrypoint=self._entrypoint,
            seeds=self._seeds,
            dataloader_seeding=self._dl,
        )
        self._started = utc_now()  # type: ignore[assignment]
        if self._intent.tier is not None:
            from reprodiag.policy import require_for_tier

            require_for_tier(self._intent.tier, self._facts(status="running"), policy=self._policy)
        return self

    def _facts(self, status: str, error: str | None = None) -> Manifest:
        assert self._axes is not None, "Run.start() was not called"
        code, env, rnd = self._axes
        if status != "running":
            env, rnd = self._at_end(env, rnd)
        finished = (
            utc_now()
            if status != "running"
            else Skipped("the run has not finished", "not_applicable")
        )
        return Manifest(
            run=RunInfo(
                run_id=self.run_id,
                created_at=self._started if isinstance(self._started, str) else utc_now(),
                output_dir=str(self._output_dir)
                if self._output_dir
                else Skipped("no output folder given", "not_given"),
                reprodiag_version=_version(),
                captured_by=self._captured_by,
            ),
            data=self._data,
            code=code,
            environment=env,
            randomness=rnd,
            intent=self._intent.to_axis(),
            results=Results(
                metrics=dict(self._metrics),
                status=status,
                started_at=self._started,
                finished_at=finished,
                error=error,
                primary_metric=self._primary_metric(),
                outputs=self._outputs,
            ),
        )

    def _at_end(
        self, env: EnvironmentAxis, rnd: RandomnessAxis
    ) -> tuple[EnvironmentAxis, RandomnessAxis]:
        """The axes with what the run showed while it trained: frameworks imported since the
        start, the estimators logged with log_estimator, and whether torch (seeded when imported,
        `seed_torch_on_import`) was used at all."""
        from reprodiag.probes.environment import refresh_environment
        from reprodiag.probes.seeds import Seeds, settle

        if isinstance(self._seeds, Seeds):
            rnd = settle(rnd, self._seeds)

        try:
            env = refresh_environment(env)
        except Exception:  # noqa: S110 - the facts read at the start stand
            pass
        if self._estimator_options:
            frameworks = {k: dict(v) for k, v in env.frameworks.items()}
            for framework, options in self._estimator_options.items():
                frameworks.setdefault(framework, {}).update(options)
            env = replace(env, frameworks=frameworks)
        if self._library_seeds:
            rnd = replace(rnd, library_seeding={**rnd.library_seeding, **self._library_seeds})
        return env, rnd

    def _primary_metric(self) -> str | None:
        if self._primary is not None:
            return self._primary
        return next(iter(self._metrics)) if len(self._metrics) == 1 else None

    def finish(self, error: BaseException | None = None) -> Manifest:
        """Record the run's end (failed with the error's type and message when one is given, else
        finished), write the manifest to its path and return it."""
        status = "failed" if error is not None else "finished"
        message = f"{type(error).__name__}: {error}" if error is not None else None
        self.manifest = self._facts(status, message)
        write_manifest(self.manifest, self.path)
        return self.manifest

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc)


def capture(
    path: str | Path,
    *,
    train: SnapshotArg = None,
    eval: SnapshotArg = None,  # noqa: A002
    seeds: Seeds | RandomnessAxis | None = None,
    params: Mapping[str, JSONValue] | None = None,
    family: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    hypothesis: str | None = None,
    ablations: Mapping[str, bool] | None = None,
    tier: str | None = None,
    tags: Mapping[str, str] | None = None,
    owner: str | None = None,
    entrypoint: str | None = None,
    code_root: str | Path = ".",
    feature_store: str | None = None,
    labeling_pipeline: str | None = None,
    dataloader_seeding: str | None = None,
    output_dir: str | Path | None = None,
    policy: Policy | None = None,
    captured_by: str = "api",
    primary_metric: str | None = None,
) -> Run:
    """Record all five axes of a training run into the manifest at `path`.

    train / eval: a Snapshot from reprodiag.snapshots.open_snapshot (pinned), a SnapshotRef, or a
    table path (opened and pinned to its current version now). seeds: the Seeds record returned by
    reprodiag.deterministic_seeds. tier: "shipped", "experimental" or "debug"; the run is refused
    before training when it lacks a fact its tier requires (PolicyViolation). primary_metric:
    the metric the run is judged on (also `run.log_metrics(..., primary=NAME)`); when exactly one
    metric is logged, it is the primary.
    """
    data = DataAxis(
        train=snapshot_fact(train, "training"),
        eval=snapshot_fact(eval, "evaluation"),
        feature_store=feature_store
        if feature_store is not None
        else Skipped("not given", "not_given"),
        labeling_pipeline=labeling_pipeline
        if labeling_pipeline is not None
        else Skipped("not given", "not_given"),
    )
    intent = Intent(
        family=family,
        experiment=experiment,
        run_name=run_name,
        hypothesis=hypothesis,
        params=dict(params or {}),
        ablations=dict(ablations or {}),
        tier=tier,
        tags=dict(tags or {}),
        owner=owner,
    )
    return Run(
        path,
        data=data,
        intent=intent,
        seeds=seeds,
        code_root=code_root,
        entrypoint=entrypoint,
        dataloader_seeding=dataloader_seeding,
        output_dir=output_dir,
        policy=policy,
        captured_by=captured_by,
        primary_metric=primary_metric,
    )
