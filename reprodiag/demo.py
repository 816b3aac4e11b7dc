"""The lesson's incident, end to end, on the embedded default.

Monday: the reference model trains on the click-events Delta table, pinned at its current
version, and ships. Then two days of drifted events land and a relabelling job rewrites history.
Wednesday: a retrain on the latest data, with another seed, scores lower on the same pinned
evaluation set. reprodiag captured both runs; `compare` ranks the axes and writes the report.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reprodiag.errors import InputError
from reprodiag.manifest.model import JSONValue

if TYPE_CHECKING:
    from reprodiag.diagnosis.model import Diagnosis
    from reprodiag.manifest.model import SnapshotRef
    from reprodiag.retrain.executor import Executor
    from reprodiag.retrain.spec import RetrainResult
    from reprodiag.snapshots.interface import Snapshot

FAMILY = "reference-mlp"
EXPERIMENT = "ctr-weekly-retrain"
MARKER = ".reprodiag-demo"


@dataclass(frozen=True)
class DemoSettings:
    """The demo's knobs: the synthetic table's world seed and size, the drift and label
    correction between Monday and Wednesday, both training seeds, the hyperparameters and the
    retrain budget."""

    seed: int = 20261123  # the table's world; Monday's training seed is derived below
    days: int = 5
    rows_per_day: int = 2_000
    eval_rows: int = 5_000
    drift_days: int = 2
    drift: float = 1.0
    label_fraction: float = 0.05
    monday_seed: int = 1234
    wednesday_seed: int = 99
    params: Mapping[str, JSONValue] | None = None
    max_retrains: int = 12
    # CPU threads per process for the demo's trainings, here and in the retrain worker (None:
    # as they are). One: the model is so small that a second thread only adds synchronisation,
    # and on a busy 2-core machine two threads made one fit about ten times slower.
    threads: int | None = 1


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote: Monday's and Wednesday's manifests, the report files, and the
    diagnosis of each incident (pinned, and had Monday read its data as latest)."""

    monday: Path
    wednesday: Path
    reports: tuple[Path, ...]
    diagnosis: Diagnosis
    unpinned: Diagnosis


def _fresh_folder(folder: Path) -> Path:
    """A work folder the demo owns: removed only when it carries the demo's marker file."""
    if folder.exists():
        if not (folder / MARKER).exists():
            raise InputError(
                f"{folder} exists and was not made by reprodiag demo",
                hint="choose another --out folder, or move this one away",
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by reprodiag demo; safe to delete\n")
    return folder


TRAIN_PY = """\
# The team's training job: the reference family's trainer, captured by reprodiag.
from reprodiag.family.mlp import train  # noqa: F401  (entrypoint reprodiag.family.mlp:train)
"""
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "reprodiag demo",
    "GIT_AUTHOR_EMAIL": "demo@reprodiag.invalid",
    "GIT_COMMITTER_NAME": "reprodiag demo",
    "GIT_COMMITTER_EMAIL": "demo@reprodiag.invalid",
}


def team_repository(folder: Path) -> Path:
    """The team's training repository: a real git repo with the job and a lock file, committed.

    The demo captures its code axis from here rather than from wherever reprodiag is installed,
    so a shipped-tier run passes its gate on any machine (git must be installed).
    """
    import os
    import subprocess
    from importlib.metadata import distributions

    folder.mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN_PY)
    pins = sorted(
        {
            f"{d.metadata['Name']}=={d.version}"
            for d in distributions()
            if d.metadata["Name"] in ("torch", "numpy", "pandas", "deltalake", "reprodiag")
        }
    )
    (folder / "requirements.txt").write_text("\n".join(pins) + "\n")
    env = {**os.environ, **_GIT_IDENTITY}
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "training job"],
    ):
        try:
            subprocess.run(
                ["git", "-C", str(folder), *args],
                check=True,
                capture_output=True,
                env=env,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise InputError(
                f"the demo could not create its git repository in {folder}: {exc}",
                hint="install git: the demo records the training code's commit",
            ) from None
    return folder


def default_params() -> dict[str, JSONValue]:
    """Every hyperparameter the trainer will use, resolved: what a manifest should record."""
    import dataclasses

    from reprodiag.family.mlp import MLPParams

    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(MLPParams()).items()
    }


@dataclass(frozen=True)
class Pipeline:
    """What Monday's and Wednesday's runs share: the job, its params, the evaluation snapshot."""

    params: Mapping[str, JSONValue]
    code_root: Path
    eval_data: Snapshot
    hypothesis: str = "weekly retrain"


@dataclass(frozen=True)
class AlsoRecorded:
    """One more manifest of the same training run, as another job would have recorded it: its
    path, what it names as the training data, its tier (None: not gated) and output folder."""

    manifest: Path
    record_train: SnapshotRef
    output_dir: Path
    tier: str | None = None


def train_captured(
    manifest: Path,
    pipeline: Pipeline,
    *,
    data: Snapshot,
    seed: int,
    run_name: str,
    output_dir: Path,
    record_train: SnapshotRef | None = None,
    tier: str | None = "shipped",
    also: AlsoRecorded | None = None,
) -> Path:
    """One captured training run of the reference family.

    `record_train` replaces what the manifest records as the training data (the unpinned
    scenario records "read as latest" while training on the same rows); `tier` None means the
    team did not gate the run. `also`: the same run (one training, the same rows and seed) is
    captured a second time into another manifest, as `also` describes: the demo's unpinned
    Monday is its pinned Monday's training recorded as a job that read "latest" would record it.
    """
    import contextlib

    import reprodiag
    from reprodiag.family import TRAINER_ENTRYPOINT
    from reprodiag.family.mlp import METRIC_DIRECTIONS, train
    from reprodiag.manifest.model import OutputDigests
    from reprodiag.retrain.interface import TrainContext

    seeds = reprodiag.deterministic_seeds(seed)
    records = [(manifest, record_train if record_train is not None else data, tier, output_dir)]
    if also is not None:
        records.append((also.manifest, also.record_train, also.tier, also.output_dir))
    with contextlib.ExitStack() as stack:
        runs = [
            stack.enter_context(
                reprodiag.capture(
                    path,
                    train=recorded,
                    eval=pipeline.eval_data,
                    seeds=seeds,
                    params=pipeline.params,
                    family=FAMILY,
                    experiment=EXPERIMENT,
                    run_name=run_name,
                    hypothesis=pipeline.hypothesis,
                    tier=run_tier,
                    owner="ml-oncall",
                    tags={"team": "ranking"},
                    entrypoint=TRAINER_ENTRYPOINT,
                    output_dir=folder,
                    code_root=pipeline.code_root,
                    dataloader_seeding="torch.Generator seeded from ctx.seed",
                )
            )
            for path, recorded, run_tier, folder in records
        ]

        def record_outputs(digests: OutputDigests) -> None:
            for run in runs:  # the weights and eval-prediction digests, into every manifest
                run.record_outputs(digests)

        ctx = TrainContext(
            params=pipeline.params,
            seed=seed,
            data=data,
            eval_data=pipeline.eval_data,
            device="cpu",
            output_dir=output_dir,
            record_outputs=record_outputs,
        )
        metrics = train(ctx)
        for run in runs:
            run.log_metrics(metrics, METRIC_DIRECTIONS, primary="auc")
    return manifest


def compare_with_retrains(
    baseline: Path,
    candidate: Path,
    out: Path,
    *,
    title: str,
    max_retrains: int,
    on_result: Callable[[RetrainResult], None] | None,
    band_store: Path,
    repo: Path | None = None,
    executor: Executor | None = None,
) -> tuple[Diagnosis, tuple[Path, ...]]:
    """`reprodiag compare --retrain --metric auc` on two manifests; writes the reports. `repo`:
    the training repository the retrains check the recorded commit out from (None: the current
    folder's). `executor`: runs the retrains (None: a SerialExecutor of its own, closed after)."""
    from reprodiag.confirm import RetrainOptions, confirm
    from reprodiag.diagnosis.engine import diagnose
    from reprodiag.manifest import load_manifest
    from reprodiag.noise.store import BandStore
    from reprodiag.report import write_reports
    from reprodiag.retrain.executor import SerialExecutor

    b, c = load_manifest(baseline), load_manifest(candidate)
    diagnosis = diagnose(
        b, c, metric="auc", baseline_path=str(baseline), candidate_path=str(candidate), title=title
    )
    workdir = out / "retrains"
    own = executor is None
    options = RetrainOptions(
        executor=executor if executor is not None else SerialExecutor(workdir),
        workdir=workdir,
        max_retrains=max_retrains,
        store=BandStore(band_store),
        on_result=on_result,
        repo=repo,
    )
    try:
        diagnosis = confirm(b, c, diagnosis, options)
    finally:
        if own:
            options.executor.close()
    return diagnosis, tuple(write_reports(diagnosis, out))


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Torch, OpenMP, MKL and OpenBLAS limited to `threads` in this process and in the workers it
    starts meanwhile (their environment), put back afterwards; None changes nothing. Every
    manifest of the demo then records the same thread count, so the environment axis stays the
    same between the runs and their retrains."""
    if threads is None:
        yield
        return
    import os

    import torch

    from reprodiag.retrain.executor import thread_env

    saved_env = {name: os.environ.get(name) for name in thread_env(threads)}
    saved = torch.get_num_threads()
    os.environ.update(thread_env(threads))
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(saved)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_demo(
    out: Path,
    settings: DemoSettings = DemoSettings(),
    progress: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    """Run the whole demo under `out`: build the table, train Monday and Wednesday, diagnose with
    retrains; progress lines go to `progress`. About 12.5 s on a quiet 2-core CPU."""
    with cpu_threads(settings.threads):
        return _run_demo(out, settings, progress)


def _run_demo(out: Path, settings: DemoSettings, progress: Callable[[str], None]) -> DemoResult:
    from reprodiag.family import append_days, correct_labels, create_table
    from reprodiag.family.data import eval_table_path, train_table_path
    from reprodiag.retrain.executor import SerialExecutor
    from reprodiag.snapshots import open_snapshot, unversioned_ref

    work = _fresh_folder(out / "work")
    # One warm retrain worker for both comparisons, started now: importing torch there overlaps
    # the table generation and Monday's training here.
    executor = SerialExecutor(out / "retrains")
    executor.prestart()
    params = {**default_params(), **dict(settings.params or {})}
    repo = team_repository(work / "training-job")
    progress(f"generating the click-events Delta table ({settings.days} days) under {work}")
    create_table(
        work,
        days=settings.days,
        rows_per_day=settings.rows_per_day,
        seed=settings.seed,
        eval_rows=settings.eval_rows,
    )
    evaluation = open_snapshot(eval_table_path(work))
    monday_data = open_snapshot(train_table_path(work))
    pipeline = Pipeline(params=params, code_root=repo, eval_data=evaluation)
    progress(
        f"Monday: training on events v{monday_data.ref.version} (pinned), "
        f"seed {settings.monday_seed}"
    )
    # One training run, captured twice: as the team's job recorded it (the pinned snapshot,
    # gated as shipped), and as a job that read the table as "latest" would have recorded the very
    # same run (no version, not gated): the unpinned scenario below.
    unpinned = out / "unpinned" / "monday.json"
    monday = train_captured(
        out / "monday.json",
        pipeline,
        data=monday_data,
        seed=settings.monday_seed,
        run_name="monday",
        output_dir=work / "runs" / "monday",
        also=AlsoRecorded(
            unpinned,
            unversioned_ref(str(train_table_path(work)), "read as latest; no version recorded"),
            work / "runs" / "monday",
        ),
    )
    progress(
        f"two days of new events land; a relabelling job corrects "
        f"{settings.label_fraction:.0%} of labels"
    )
    append_days(work, settings.drift_days, seed=settings.seed + 1, drift=settings.drift)
    correct_labels(work, settings.label_fraction, seed=settings.seed + 2)
    wednesday_data = open_snapshot(train_table_path(work))
    progress(
        f"Wednesday: retraining on events v{wednesday_data.ref.version} (latest), "
        f"seed {settings.wednesday_seed}"
    )
    wednesday = train_captured(
        out / "wednesday.json",
        pipeline,
        data=wednesday_data,
        seed=settings.wednesday_seed,
        run_name="wednesday",
        output_dir=work / "runs" / "wednesday",
    )

    def show(result: RetrainResult) -> None:
        value = (
            f"auc {result.metric_value:.2f}" if result.metric_value is not None else result.reason
        )
        progress(f"  retrain {result.label}: {value} ({result.seconds:.1f} s)")

    progress("compare --retrain: Monday (pinned) vs Wednesday")
    try:
        diagnosis, reports = compare_with_retrains(
            monday,
            wednesday,
            out,
            title="Wednesday's retrain scores lower than Monday's shipped model",
            max_retrains=settings.max_retrains,
            on_result=show,
            band_store=work / "band-store",
            repo=repo,
            executor=executor,
        )
        progress("compare --retrain: the same incident had Monday not pinned its data")
        unpinned_diagnosis, more = compare_with_retrains(
            unpinned,
            wednesday,
            out / "unpinned",
            on_result=show,
            max_retrains=settings.max_retrains,
            title="The same incident, had Monday read its data as 'latest'",
            band_store=work / "band-store",
            repo=repo,
            executor=executor,
        )  # the same Wednesday pipeline: its seeds are reused
    finally:
        executor.close()
    return DemoResult(
        monday=monday,
        wednesday=wednesday,
        reports=reports + more,
        diagnosis=diagnosis,
        unpinned=unpinned_diagnosis,
    )
