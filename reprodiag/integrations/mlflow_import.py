"""An MLflow run as a reprodiag manifest: what MLflow recorded, and why the rest is missing.

MLflow records less than a reprodiag capture. Every fact it did not record is a `Skipped` record
whose reason starts with "not recorded by MLflow" (kind not_recorded), so `reprodiag check` and
`reprodiag compare` see the hole instead of a made-up value. Where the facts come from:

- code: the tags mlflow.source.git.commit / .branch / .repoURL (credentials stripped) and
  mlflow.source.name (the entrypoint); the lock is a logged requirements.txt (or conda.yaml) found
  in the run's artifacts (top level, then one folder down, e.g. ``model/``) or in a logged model.
- data: the run's dataset inputs; context "training" is data.train, "eval" / "evaluation" /
  "validation" is data.eval. A Delta source (mlflow.data.delta_dataset_source) gives format
  "delta", its path or table name and delta_table_version; any other source is "unversioned"
  with MLflow's digest as the fingerprint ("mlflow-digest:<digest>"; MLflow hashes a sample of
  the rows, so it is evidence of a change, not a pin).
- environment: python from a logged python_env.yaml or conda.yaml, pinned ``name==version``
  lines of the requirements as libraries, the mlflow.docker.image.* tags as the container image.
- randomness: see `randomness_axis` (a generic "seed" param is not assigned to any generator).
- intent: params (strings in MLflow, parsed back with json.loads when they parse), experiment,
  run name, description (mlflow.note.content) as the hypothesis, user tags (not mlflow.* nor
  reprodiag.*), owner from mlflow.user; the family and tier from reprodiag.family / reprodiag.tier
  tags when set. results: the latest value of each metric; loss-like names default to "lower".
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reprodiag.errors import InputError
from reprodiag.integrations.mlflow_env import environment_files
from reprodiag.manifest.codec import to_jsonable
from reprodiag.manifest.load import manifest_from_json
from reprodiag.manifest.model import (
    CodeAxis,
    DataAxis,
    Direction,
    EnvironmentAxis,
    IntentAxis,
    Manifest,
    Metric,
    RandomnessAxis,
    Results,
    RunInfo,
    Skipped,
    SnapshotRef,
)

NOT_RECORDED = "not recorded by MLflow"
TRAIN_CONTEXTS = ("training", "train")
EVAL_CONTEXTS = ("eval", "evaluation", "validation")
# Generic seed params: logged, but MLflow cannot say which generators they seeded.
GENERIC_SEEDS = ("seed", "random_seed", "random_state", "rng_seed", "global_seed", "base_seed")
SPECIFIC_SEEDS: Mapping[str, tuple[str, ...]] = {
    "python_seed": ("python_seed", "py_seed"),
    "numpy_seed": ("numpy_seed", "np_seed"),
    "torch_seed": ("torch_seed", "torch_manual_seed"),
    "cuda_seed": ("cuda_seed", "torch_cuda_seed"),
}
_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}


@dataclass(frozen=True)
class MlflowImport:
    """A manifest built from an MLflow run, and where it was read from."""

    manifest: Manifest
    tracking_uri: str
    tracking_uri_source: str  # "--tracking-uri", "MLFLOW_TRACKING_URI" or "mlflow's default"
    warnings: tuple[str, ...] = ()


def skipped(what: str) -> Skipped:
    """A fact MLflow did not record, with what is missing in words."""
    return Skipped(f"{NOT_RECORDED}: {what}", "not_recorded")


def resolve_tracking_uri(option: str | None) -> tuple[str, str]:
    """The tracking URI to read from, and which setting gave it."""
    if option:
        return option, "--tracking-uri"
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    mlflow = import_mlflow()
    return str(mlflow.get_tracking_uri()), "mlflow's default"


# Any: mlflow's module, client and run objects (imported lazily), and run params before checks.
def import_mlflow() -> Any:
    """The mlflow module; raises InputError saying how to install it when it is missing."""
    try:
        import mlflow
    except ImportError:
        raise InputError(
            "MLflow is not installed", hint="pip install 'reprodiag[mlflow]'"
        ) from None
    return mlflow


def mlflow_client(tracking_uri: str, source: str = "--tracking-uri") -> Any:
    """An MlflowClient, refusing a sqlite URI whose file does not exist (MLflow would create it)."""
    mlflow = import_mlflow()
    if tracking_uri.startswith("sqlite:///"):
        path = tracking_uri[len("sqlite:///") :]
        if path and path != ":memory:" and not os.path.exists(path):
            raise InputError(
                f"no MLflow database at {path} (tracking URI {tracking_uri}, from {source})",
                hint="pass --tracking-uri or set MLFLOW_TRACKING_URI to the store "
                "the run was logged to",
            )
    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def get_run(client: Any, run_id: str, tracking_uri: str, source: str = "--tracking-uri") -> Any:
    """The MLflow run `run_id` from the client; raises InputError naming the run, the tracking
    URI and the setting it came from when the run is missing or unreadable."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        missing = getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
        what = "no such run" if missing else f"cannot read it: {exc.message}"
        raise InputError(
            f"MLflow run {run_id!r} at tracking URI {tracking_uri} (from {source}): {what}",
            hint="check the run id (MLflow UI: the run's page, 'Run ID') and the "
            "store (--tracking-uri or MLFLOW_TRACKING_URI)",
        ) from None


def import_mlflow_run(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    metric_directions: Mapping[str, Direction] | None = None,
    tier: str | None = None,
) -> MlflowImport:
    """Read an MLflow run and build its manifest, validated against the manifest schema."""
    uri, source = resolve_tracking_uri(tracking_uri)
    client = mlflow_client(uri, source)
    run = get_run(client, run_id, uri, source)
    tags = dict(run.data.tags)
    warnings: list[str] = []
    files = environment_files(client, run, warnings)
    manifest = Manifest(
        run=RunInfo(
            run_id=run.info.run_id,
            created_at=_now(),
            output_dir=run.info.artifact_uri or skipped("no artifact location"),
            reprodiag_version=_version(),
            captured_by="import",
        ),
        data=data_axis(run, warnings),
        code=code_axis(tags, files.lock),
        environment=environment_axis(tags, files.python, files.libraries),
        randomness=randomness_axis(_params(run)),
        intent=intent_axis(run, tags, _experiment_name(client, run), tier),
        results=results(run, metric_directions or {}, warnings),
    )
    manifest_from_json(to_jsonable(manifest), f"<MLflow run {run_id}>")  # a bug here is ours
    return MlflowImport(manifest, uri, source, tuple(warnings))


def parse_param(text: str) -> Any:
    """MLflow stores params as strings: numbers, bools and JSON lists come back as they were."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if _finite_json(value) else text


def _finite_json(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(map(_finite_json, value))
    if isinstance(value, dict):
        return all(map(_finite_json, value.values()))
    return True


def _params(run: Any) -> dict[str, Any]:
    return {name: parse_param(value) for name, value in sorted(run.data.params.items())}


def code_axis(tags: Mapping[str, str], lock: Any) -> CodeAxis:
    """The code axis from MLflow's git tags (commit, branch, remote without credentials); what
    MLflow does not record is skipped with the reason."""
    from reprodiag.probes.git import strip_credentials

    remote = tags.get("mlflow.source.git.repoURL") or tags.get("mlflow.gitRepoURL")
    dirty = _bool_tag(tags.get("reprodiag.dirty"))
    return CodeAxis(
        commit=tags.get("mlflow.source.git.commit") or skipped("no mlflow.source.git.commit tag"),
        branch=tags.get("mlflow.source.git.branch") or skipped("no mlflow.source.git.branch tag"),
        remote=strip_credentials(remote) if remote else skipped("no mlflow.source.git.repoURL tag"),
        # MLflow records the commit, not whether the tree was clean; a run may say so itself
        # with the tag reprodiag.dirty = "true" / "false" (e.g. from `git status --porcelain`)
        dirty=dirty
        if dirty is not None
        else skipped(
            "MLflow records the commit, not whether the tree had uncommitted changes "
            "(set the tag reprodiag.dirty on the run)"
        ),
        diff_sha256=skipped("MLflow does not keep the uncommitted diff"),
        # a trainer the retrains can import (module:function), when the run set the tag;
        # else the script MLflow saw, which says where the code was but cannot be retrained
        entrypoint=tags.get("reprodiag.entrypoint")
        or tags.get("mlflow.source.name")
        or skipped("no reprodiag.entrypoint or mlflow.source.name tag"),
        lock=lock,
    )


def _bool_tag(value: str | None) -> bool | None:
    text = (value or "").strip().lower()
    return True if text == "true" else False if text == "false" else None


def environment_axis(
    tags: Mapping[str, str], python: Any, libraries: Mapping[str, str]
) -> EnvironmentAxis:
    """The environment axis from what MLflow keeps (Python, library pins, the docker image);
    every host fact is skipped, since MLflow does not probe the host."""
    image = "@".join(
        t for t in (tags.get("mlflow.docker.image.name"), tags.get("mlflow.docker.image.id")) if t
    )
    no_probe = skipped("MLflow does not probe the host")
    return EnvironmentAxis(
        python=python,
        os=no_probe,
        kernel=no_probe,
        cpu_model=no_probe,
        cpu_capability=no_probe,
        threads=no_probe,
        torch_version=skipped(
            "MLflow does not record the torch that ran (see libraries for a logged pin)"
        ),
        torch_build=skipped("MLflow does not record the torch build"),
        cuda=no_probe,
        cudnn=no_probe,
        nccl=no_probe,
        gpu_name=no_probe,
        gpu_count=no_probe,
        gpu_uuids=no_probe,
        driver=no_probe,
        cuda_driver=no_probe,
        tf32_matmul=skipped("MLflow does not record precision flags"),
        tf32_cudnn=skipped("MLflow does not record precision flags"),
        matmul_precision=skipped("MLflow does not record precision flags"),
        container_image=image
        or skipped("no mlflow.docker.image.* tag (not an MLflow Docker project run)"),
        hostname=no_probe,
        libraries=dict(libraries),
    )


def randomness_axis(params: Mapping[str, Any]) -> RandomnessAxis:
    """Seeds from params. A generator-specific name (torch_seed, numpy_seed, ...) fills its field;
    a generic one (seed, random_state, ...) fills none: training code may pass it to one library,
    to all of them, or derive others from it, and MLflow cannot tell which."""
    lowered = {name.lower(): value for name, value in params.items()}
    generic = [name for name in GENERIC_SEEDS if name in lowered]
    reason = (
        f"a {generic[0]!r} param was logged ({generic[0]}={lowered[generic[0]]}); which "
        "generators it seeded is unknown"
        if generic
        else "no seed param was logged"
    )
    seeds: dict[str, Any] = {}
    found: list[str] = []
    for field_name, names in SPECIFIC_SEEDS.items():
        value = next(
            (
                lowered[n]
                for n in names
                if isinstance(lowered.get(n), int) and not isinstance(lowered.get(n), bool)
            ),
            None,
        )
        seeds[field_name] = value if value is not None else skipped(reason)
        if value is not None:
            found.append(field_name)
    derivation: Any = (
        f"from MLflow params: {', '.join(found)}" + (f"; {reason}" if generic else "")
        if found
        else skipped(reason)
    )
    flag = skipped("MLflow does not record determinism flags")
    return RandomnessAxis(
        **seeds,
        derivation=derivation,
        deterministic_algorithms=flag,
        warn_only=flag,
        cudnn_deterministic=flag,
        cudnn_benchmark=flag,
        cublas_workspace_config=skipped("MLflow does not record CUBLAS_WORKSPACE_CONFIG"),
        pythonhashseed=skipped("MLflow does not record PYTHONHASHSEED"),
        fill_uninitialized_memory=flag,
        dataloader_seeding=skipped("MLflow does not record DataLoader worker seeding"),
    )


def intent_axis(
    run: Any, tags: Mapping[str, str], experiment: str | None, tier: str | None
) -> IntentAxis:
    """The intent axis from the run's name, description, params and user tags (reprodiag.family
    and reprodiag.tier tags when set; `tier` overrides the tag)."""
    user_tags = {
        k: v for k, v in sorted(tags.items()) if not k.startswith(("mlflow.", "reprodiag."))
    }
    return IntentAxis(
        family=tags.get("reprodiag.family") or skipped("set the tag reprodiag.family on the run"),
        experiment=experiment or skipped("the run's experiment could not be read"),
        run_name=run.info.run_name or tags.get("mlflow.runName") or skipped("the run has no name"),
        hypothesis=tags.get("mlflow.note.content")
        or skipped("the run has no description (mlflow.note.content)"),
        params=_params(run),
        ablations={},
        tier=tier
        or tags.get("reprodiag.tier")
        or skipped("pass --tier or set the tag reprodiag.tier on the run"),
        tags=user_tags,
        owner=tags.get("mlflow.user") or skipped("no mlflow.user tag"),
    )


def metric_direction(name: str, overrides: Mapping[str, Direction]) -> Direction:
    """Whether lower or higher is better for a metric: the override if given, else "lower" for
    names with a word such as loss or error in them."""
    if name in overrides:
        return overrides[name]
    from reprodiag.probes.run import infer_direction

    return infer_direction(name)


def results(run: Any, overrides: Mapping[str, Direction], warnings: list[str]) -> Results:
    """The results from the run's metrics (non-finite values left out with a warning), status and
    start and end times."""
    metrics = {}
    for name, value in sorted(run.data.metrics.items()):
        if not _finite_json(float(value)):
            warnings.append(f"metric {name} is {value}: JSON has no such number; left out")
            continue
        metrics[name] = Metric(float(value), metric_direction(name, overrides))
    info = run.info
    return Results(
        metrics=metrics,
        status=_STATUS.get(info.status, "running"),
        started_at=_time(info.start_time) or skipped("no start time"),
        finished_at=_time(info.end_time) or skipped("no end time (the run has not ended)"),
        error="the run was killed (MLflow status KILLED)" if info.status == "KILLED" else None,
    )


def data_axis(run: Any, warnings: list[str]) -> DataAxis:
    """The training and evaluation snapshots from the run's dataset inputs, by their
    mlflow.data.context tag; an input of neither role is a warning."""
    train: Any = skipped("no dataset input with context 'training'")
    evaluation: Any = skipped("no dataset input with context 'eval', 'evaluation' or 'validation'")
    inputs = run.inputs.dataset_inputs if run.inputs else []
    for dataset_input in inputs:
        context = next((t.value for t in dataset_input.tags if t.key == "mlflow.data.context"), "")
        dataset = dataset_input.dataset
        role = (
            "train"
            if context.lower() in TRAIN_CONTEXTS
            else "eval"
            if context.lower() in EVAL_CONTEXTS
            else None
        )
        current = train if role == "train" else evaluation
        if role is None or not isinstance(current, Skipped):
            why = "no manifest field for that context" if role is None else f"data.{role} is taken"
            warnings.append(f"dataset input {dataset.name!r} (context {context!r}) left out: {why}")
            continue
        ref = pin_reachable(
            snapshot_ref(dataset.source_type, dataset.source, dataset.digest), role, warnings
        )
        train, evaluation = (ref, evaluation) if role == "train" else (train, ref)
    return DataAxis(
        train=train,
        eval=evaluation,
        # nobody stated one (MLflow has no such field), as with capture(): not a hole
        feature_store=Skipped(f"{NOT_RECORDED}: MLflow has no feature-store version", "not_given"),
        labeling_pipeline=Skipped(
            f"{NOT_RECORDED}: MLflow has no labeling-pipeline version", "not_given"
        ),
    )


def pin_reachable(ref: SnapshotRef, role: str, warnings: list[str]) -> SnapshotRef:
    """The snapshot as reprodiag pins it, when the data can be reached from here at import: a
    Delta table at its recorded version gets reprodiag's own fingerprint and table id (MLflow's
    dataset digest hashes a sample of rows, so comparing it with a re-read says "replaced" when
    nothing was), and a local file or folder is fingerprinted by its content now, which the
    warnings say. Data that cannot be reached keeps MLflow's record; the training and the
    evaluation set are pinned alike."""
    from reprodiag.snapshots import open_snapshot

    try:
        version = ref.version
        if ref.format == "delta" and not isinstance(version, Skipped) and os.path.isdir(ref.uri):
            pinned = open_snapshot(ref.uri, format="delta", version=version).ref
            return replace(ref, table_id=pinned.table_id, fingerprint=pinned.fingerprint)
        if ref.format == "unversioned" and os.path.exists(ref.uri):
            pinned = open_snapshot(ref.uri, format="files").ref
            warnings.append(
                f"data.{role}: {ref.uri} fingerprinted by its content at import: MLflow kept "
                "only a digest of what the run read, so a change since the run would go unseen"
            )
            return pinned
    except Exception as exc:  # unreadable now: keep what MLflow recorded, and say why
        warnings.append(f"data.{role}: {ref.uri} could not be pinned at import: {exc}")
    return ref


def snapshot_ref(source_type: str, source: str, digest: str | None) -> SnapshotRef:
    """A snapshot ref from an MLflow dataset source: a Delta table keeps its version; any other
    source is unversioned, identified by the dataset digest."""
    from reprodiag.probes.git import strip_credentials

    try:
        info = json.loads(source) if source else {}
    except ValueError:
        info = {}
    info = info if isinstance(info, dict) else {}
    fingerprint = f"mlflow-digest:{digest}" if digest else skipped("the dataset has no digest")
    if source_type == "delta_table":
        version = info.get("delta_table_version")
        return SnapshotRef(
            format="delta",
            uri=str(info.get("path") or info.get("delta_table_name") or source),
            version=version
            if isinstance(version, int)
            else skipped(
                "the Delta source has no delta_table_version: it was read at the latest version, "
                "or at version 0, which MLflow leaves out when it stores the source"
            ),
            table_id=info.get("delta_table_id") or skipped("the Delta source has no table id"),
            fingerprint=fingerprint,
        )
    uri = next((str(info[k]) for k in ("uri", "url", "path", "table_name") if info.get(k)), "")
    return SnapshotRef(
        format="unversioned",
        uri=strip_credentials(uri) if uri else f"mlflow:{source_type}",
        version=Skipped("MLflow recorded a digest, not a version", "not_recorded"),
        table_id=skipped(f"a {source_type} source has no table id"),
        fingerprint=fingerprint,
    )


def _experiment_name(client: Any, run: Any) -> str | None:
    try:
        return str(client.get_experiment(run.info.experiment_id).name)
    except Exception:  # the run is readable; a missing experiment only loses its name
        return None


def _time(ms: int | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reprodiag")
    except PackageNotFoundError:
        return "0+unknown"
