"""The manifest: one frozen record per reproducibility axis.

Every fact is either its value or a `Skipped` record carrying the reason it could not be captured;
a fact is never silently dropped (DESIGN.md, "The five axes").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar, Union, get_args

from reprodiag._records import schema

SCHEMA_ID = "reprodiag.manifest/v1"
READABLE_SCHEMAS = (SCHEMA_ID,)

# The closed vocabularies, declared once: every other module (and click.Choice) imports these.
# The five reproducibility axes, in the order reports list them.
Axis = Literal["data", "code", "environment", "randomness", "intent"]
AXES: tuple[Axis, ...] = get_args(Axis)
# Whether a larger or a smaller value of a metric is better.
Direction = Literal["higher", "lower"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)


# Why a fact is missing, set where it is skipped (the probes, the importers):
#   not_given       nobody stated it: an input the user can pass and did not (a hypothesis, a
#                   feature store, the entrypoint, a snapshot, a seed on the command line)
#   not_applicable  the fact does not exist for this run (GPU facts on a host without a GPU or
#                   with a CPU build of torch, the version of a plain-files snapshot, the branch
#                   of a detached HEAD)
#   failed          a probe ran and could not read it (an error, a timeout, a missing tool or
#                   library)
#   not_recorded    the source the manifest was built from did not record it (an MLflow run, a
#                   capture from a shell, training code that reported no seeds, data read as
#                   latest); also every skip written before kinds existed that implies no other
SkipKind = Literal["not_given", "not_applicable", "failed", "not_recorded"]
SKIP_KINDS: tuple[SkipKind, ...] = get_args(SkipKind)


@dataclass(frozen=True, init=False)
class Skipped:
    """A fact that could not be captured: the reason in the user's words, and its kind
    (not_given, not_applicable, failed or not_recorded).

    Without a kind (every manifest written before kinds existed), it takes the kind its reason
    implies; the kind is written only when it differs from that.
    """

    reason: str
    # The default only makes the key optional in JSON: __init__ fills in the implied kind.
    kind: SkipKind = "not_recorded"
    # Written as {"skipped": reason} in every format (reprodiag/_records.py reads the tag), with
    # "kind" beside it only when the kind is not the one the reason implies: a manifest written
    # before kinds existed reads back and writes out byte-identical.
    json_tag: ClassVar[str] = "skipped"

    def __init__(self, reason: str, kind: SkipKind | None = None) -> None:
        """A skipped fact; `kind` None means the kind `reason` implies (`implied_kind`)."""
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "kind", implied_kind(reason) if kind is None else kind)


# The reasons reprodiag's probes gave a host without a GPU, or a CPU build of torch, before kinds
# existed (diagnosis/diff.py matched these words then; the probes now set the kind themselves).
_NO_GPU_WORDS = (
    "no NVIDIA driver",
    "CPU build",
    "build without CUDA",
    "CUDA is not available",
    "cuDNN is not available",
    "no GPU visible",
)


def implied_kind(reason: str) -> SkipKind:
    """The kind a skip recorded without one has, read from its reason: "not given" and "no ...
    given" are not_given; the no-GPU reasons are not_applicable; "probe failed: ..." is failed;
    anything else is not_recorded. Only for records written before kinds existed: the probes set
    the kind where they skip."""
    if reason == "not given" or (reason.startswith("no ") and reason.endswith(" given")):
        return "not_given"
    if any(words in reason for words in _NO_GPU_WORDS):
        return "not_applicable"
    if reason.startswith("probe failed:"):
        return "failed"
    return "not_recorded"


T = TypeVar("T")
Fact = Union[T, Skipped]  # noqa: UP007 (a generic alias: mypy reads Union here, not T | X)
if TYPE_CHECKING:
    from typing import TypeAlias

    # A JSON value, such as a hyperparameter: what json.loads returns (Sequence and Mapping so
    # that tuples and read-only mappings written by the user fit too). mypy checks its uses.
    JSONValue: TypeAlias = (
        None | bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
    )
else:
    # At run time the record codec reads `object` as "any JSON value" (reprodiag/_records.py:
    # decode and _kinds), exactly as it read Any: the manifest schema and decoding do not change.
    JSONValue = object


def is_known(value: object) -> bool:
    """True when a fact was captured (not skipped and not absent)."""
    return value is not None and not isinstance(value, Skipped)


# Field metadata for an optional fact added after v1 shipped: it is written to JSON only when set,
# so a manifest that does not use it is byte-identical to one written before it existed (the
# fixtures/ manifests, manifests of older reprodiag versions) and both load alike.
OMIT_WHEN_DEFAULT: Mapping[str, bool] = {"omit_when_default": True}
SHA256_DIGEST = "^sha256:[0-9a-f]{64}$"


@dataclass(frozen=True)
class SnapshotRef:
    """Where a data set was read from, pinned well enough to read it again."""

    format: str = field(metadata=schema(description="delta, iceberg, files, dvc or unversioned"))
    uri: str
    version: Fact[
        int | str
    ]  # Delta version, Iceberg snapshot id, DVC rev; Skipped when read as latest
    table_id: Fact[str]
    fingerprint: Fact[str]  # "sha256:..." over what identifies the content
    as_of: str | None = None  # the timestamp used for time travel, when it was given

    @property
    def pinned(self) -> bool:
        """True when the snapshot can be read again as it was: a version is recorded, or, for
        plain files, their content fingerprint."""
        return is_known(self.version) or (self.format == "files" and is_known(self.fingerprint))


@dataclass(frozen=True)
class DataAxis:
    """The data axis: the training and evaluation snapshots the run read, pinned where possible."""

    train: Fact[SnapshotRef]
    eval: Fact[SnapshotRef]
    feature_store: Fact[str] = Skipped("not given", "not_given")
    labeling_pipeline: Fact[str] = Skipped("not given", "not_given")


@dataclass(frozen=True)
class LockRef:
    """The dependency lock file the run was built from: its kind (uv.lock, poetry.lock,
    requirements, pip-freeze), its path (None when it was not a file) and the sha256 of its
    bytes."""

    kind: str  # uv.lock, poetry.lock, requirements, pip-freeze
    path: str | None
    sha256: str
    # The pinned packages the lock names, normalised name (PEP 503) -> exact version: what an
    # environment swap rebuilds and what the package-level lock diff compares. Empty when the
    # lock pins nothing exactly or the manifest predates the field (then left out of the file).
    packages: Mapping[str, str] = field(default_factory=dict, metadata=OMIT_WHEN_DEFAULT)


@dataclass(frozen=True)
class Patch:
    """The uncommitted change of a dirty tree, kept so the run can be rebuilt as it ran: `text`
    is what `git apply --binary` reads (tracked changes, then untracked files as new files),
    `sha256` the digest of its UTF-8 bytes, `size` their length. A patch larger than the capture
    cap is not kept (the fact is Skipped with its size; diff_sha256 still identifies it)."""

    text: str
    sha256: str = field(metadata=schema(pattern=SHA256_DIGEST))
    size: int = field(metadata=schema(minimum=0))


@dataclass(frozen=True)
class CodeAxis:
    """The code axis: the git commit, branch and remote, whether the tree was dirty (and the
    digest of its diff), the entrypoint, and the lock file."""

    commit: Fact[str]
    branch: Fact[str]
    remote: Fact[str]
    dirty: Fact[bool]
    diff_sha256: Fact[str]
    entrypoint: Fact[str]
    lock: Fact[LockRef]
    # The uncommitted change itself (dirty trees only; not_applicable on a clean tree). Older
    # manifests lack it: then a dirty run cannot be rebuilt, only identified by diff_sha256.
    patch: Fact[Patch] = field(
        default=Skipped("not recorded by this reprodiag version", "not_recorded"),
        metadata=OMIT_WHEN_DEFAULT,
    )


@dataclass(frozen=True)
class EnvironmentAxis:
    """The environment axis: Python, OS and CPU, the torch, CUDA, cuDNN and NCCL builds, the GPUs
    and driver, the TF32 and matmul-precision settings, and the installed library versions."""

    python: Fact[str]
    os: Fact[str]
    kernel: Fact[str]
    cpu_model: Fact[str]
    cpu_capability: Fact[str]
    threads: Fact[int]
    torch_version: Fact[str]
    torch_build: Fact[str]
    cuda: Fact[str]
    cudnn: Fact[str]
    nccl: Fact[str]
    gpu_name: Fact[str]
    gpu_count: Fact[int]
    gpu_uuids: Fact[tuple[str, ...]]
    driver: Fact[str]
    cuda_driver: Fact[str]
    tf32_matmul: Fact[bool]
    tf32_cudnn: Fact[bool]
    matmul_precision: Fact[str]
    container_image: Fact[str]
    hostname: Fact[str]
    libraries: Mapping[str, str] = field(default_factory=dict)
    # Per framework the run imported besides torch (scikit-learn, xgboost, lightgbm, jax): its
    # version, thread settings and determinism options (probes/environment.py); a value that
    # could not be read is {"skipped": reason}. A framework the run did not import is absent.
    # Older manifests lack it (and it is left out of the file when empty).
    frameworks: Mapping[str, Mapping[str, JSONValue]] = field(
        default_factory=dict, metadata=OMIT_WHEN_DEFAULT
    )


@dataclass(frozen=True)
class RandomnessAxis:
    """The randomness axis: the seed of each generator, how the seeds were derived, and the
    determinism flags (deterministic algorithms, cuDNN, cuBLAS workspace, PYTHONHASHSEED)."""

    python_seed: Fact[int]
    numpy_seed: Fact[int]
    torch_seed: Fact[int]
    cuda_seed: Fact[int]
    derivation: Fact[str]
    deterministic_algorithms: Fact[bool]
    warn_only: Fact[bool]
    cudnn_deterministic: Fact[bool]
    cudnn_benchmark: Fact[bool]
    cublas_workspace_config: Fact[str]
    pythonhashseed: Fact[str]
    fill_uninitialized_memory: Fact[bool]
    dataloader_seeding: Fact[str]
    library_seeding: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IntentAxis:
    """The intent axis: the model family, experiment, run name and hypothesis, the
    hyperparameters (free-form JSON values), the ablations, the tier, the tags and the owner."""

    family: Fact[str]
    experiment: Fact[str]
    run_name: Fact[str]
    hypothesis: Fact[str]
    params: Mapping[str, JSONValue]
    ablations: Mapping[str, bool]
    tier: Fact[str]
    tags: Mapping[str, str]
    owner: Fact[str]


@dataclass(frozen=True)
class Metric:
    """One logged metric: its value and whether higher or lower is better."""

    value: float
    direction: Direction = "higher"
    # The smallest step the metric can take, in its units, when the user states it (accuracy on
    # 2,000 rows moves in steps of 0.05 points): a gap below it is no gap.
    resolution: float | None = field(
        default=None,
        metadata={
            **OMIT_WHEN_DEFAULT,
            **schema(
                exclusiveMinimum=0,
                description="the smallest step of the metric, when the user stated it",
            ),
        },
    )


@dataclass(frozen=True)
class FileDigest:
    """One output file: its name (relative to the run's output folder when it is inside it),
    "sha256:<hex>" of its bytes, and its size in bytes."""

    name: str
    sha256: str = field(metadata=schema(pattern=SHA256_DIGEST))
    size: int = field(metadata=schema(minimum=0))


@dataclass(frozen=True)
class OutputDigests:
    """What the run produced, as sha256 digests: equal digests are the bit-exact bar.

    weights: "sha256:<hex>" of the tensors (names sorted; dtype, shape and bytes of each);
    predictions: "sha256:<hex>" of the evaluation predictions (dtype, shape, C-order bytes);
    files: output files by name. None or an empty tuple: not recorded by this run.
    """

    weights: str | None = field(default=None, metadata=schema(pattern=SHA256_DIGEST))
    predictions: str | None = field(default=None, metadata=schema(pattern=SHA256_DIGEST))
    files: tuple[FileDigest, ...] = ()


@dataclass(frozen=True)
class Results:
    """What the run produced: its metrics by name, its status (finished, failed or running), when
    it started and finished, the error when it failed, and the digests of its outputs."""

    metrics: Mapping[str, Metric]
    status: str = field(metadata=schema(enum=["finished", "failed", "running"]))
    started_at: Fact[str]
    finished_at: Fact[str]
    error: str | None = None
    # The metric the run is judged on, as the user named it at capture (or the only one logged).
    primary_metric: str | None = field(default=None, metadata=OMIT_WHEN_DEFAULT)
    outputs: OutputDigests | None = field(
        default=None,
        metadata={**OMIT_WHEN_DEFAULT, **schema(description="output digests: the bit-exact bar")},
    )


@dataclass(frozen=True)
class RunInfo:
    """Facts that differ between any two runs by nature: never reported as a cause."""

    run_id: str
    created_at: str
    output_dir: Fact[str]
    reprodiag_version: str
    captured_by: str = field(metadata=schema(enum=["api", "cli", "import", "fixture"]))


@dataclass(frozen=True)
class Manifest:
    """Everything recorded about one training run: its identity, the five reproducibility axes
    (data, code, environment, randomness, intent) and its results."""

    run: RunInfo
    data: DataAxis
    code: CodeAxis
    environment: EnvironmentAxis
    randomness: RandomnessAxis
    intent: IntentAxis
    results: Results
    schema: str = SCHEMA_ID

    def axis(
        self, name: str
    ) -> DataAxis | CodeAxis | EnvironmentAxis | RandomnessAxis | IntentAxis:
        """The record of one axis by name ("data", "code", ...); raises KeyError for any other
        name."""
        if name not in AXES:
            raise KeyError(name)
        record: DataAxis | CodeAxis | EnvironmentAxis | RandomnessAxis | IntentAxis
        record = getattr(self, name)
        return record


# Dotted field paths that differ between any two runs by nature (DESIGN.md): noise, never a cause.
NOISE_FIELDS = frozenset(
    {
        "run.run_id",
        "run.created_at",
        "run.output_dir",
        "run.reprodiag_version",
        "run.captured_by",
        "results.started_at",
        "results.finished_at",
        "results.status",
        "results.error",
        "environment.hostname",
        "intent.run_name",
    }
)
