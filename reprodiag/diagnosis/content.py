"""Diffs of content: what changed inside the code, the environment and the data, not only a hash.

A manifest pins each axis by digests (a commit, a patch digest, a lock digest, a table version);
when they differ, the person reading the report next asks *what* changed. `content_diff` answers
from the two manifests and the snapshots they pin:

- **code**: the uncommitted patch of each dirty side (`code.patch`, kept by capture), with the
  files it touches and its line counts; the report shows it collapsed, at most
  `PATCH_SHOWN_CHARS` characters of it;
- **environment**: a package-level lock diff from `code.lock.packages` of both sides (added,
  removed, changed version); when either lock names no packages, the `environment.libraries`
  mapping both manifests record instead;
- **data**, per snapshot (train, eval) pinned at two versions: the table's commits in between
  (operation, time, parameters and user metadata: reprodiag.snapshots.history), the row count and
  columns of each version from the table's metadata, and a cheap scan: rows added and removed by
  hashing every row of both versions, and the label rate of each side, when both versions fit the
  caps (`ContentOptions.max_rows` rows and `max_bytes` bytes of data files per version; the
  label rate, one column, up to `LABEL_ROWS_FACTOR` times as many rows). Over a cap the scan says
  so with the cap; a failure becomes a "could not compute …: reason" line: the content diff never
  fails a diagnosis.

The label column is, in order: `ContentOptions.label_column` (`--label-column`), the run's
`intent.params["label_column"]` (baseline first), else a column named `label` (the reference
family's) when both versions have one. Only a binary label (booleans, or numbers that are all 0
or 1) has a rate; another label column says why it has none.

The records here are part of the diagnosis (`Diagnosis.content`, written only when set);
`content_lines` puts them in words for `reprodiag diff` and the reports.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from reprodiag.errors import ReprodiagError
from reprodiag.manifest.model import Manifest, Patch, Skipped, SnapshotRef, is_known

if TYPE_CHECKING:
    import pyarrow

    from reprodiag.snapshots.history import VersionInfo

PATCH_SHOWN_CHARS = 20_000  # characters of a patch kept in the diagnosis and shown in reports
DEFAULT_MAX_ROWS = 1_000_000  # rows per version for the row-set comparison
DEFAULT_MAX_BYTES = 256 * 2**20  # bytes of data files per version for the row-set comparison
LABEL_ROWS_FACTOR = 10  # the label rate reads one column: up to this many times max_rows
DEFAULT_LABEL_COLUMN = "label"
DETAILS_CHARS = 300  # characters of a commit's parameters and metadata kept in the diagnosis
_LABEL_PARAM = "label_column"
_DIFF_FILE = re.compile(r"^diff --git a/(.*?) b/(.*)$")

Role = Literal["train", "eval"]
PatchSide = Literal["baseline", "candidate"]


# ---- the records (part of the diagnosis) -----------------------------------------------------


@dataclass(frozen=True)
class PatchShown:
    """One side's uncommitted patch as the report shows it: the files it touches, its line
    counts, its digest and size (of the whole patch) and its text, cut at a line end after
    PATCH_SHOWN_CHARS characters (`truncated` then says so)."""

    side: PatchSide
    sha256: str
    size: int
    files: tuple[str, ...]
    added: int
    removed: int
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class CodeContent:
    """The code axis' content: each dirty side's patch, and what could not be shown, and why."""

    patches: tuple[PatchShown, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackageChange:
    """One package whose pinned version differs: None on the side that does not have it."""

    name: str
    baseline: str | None
    candidate: str | None

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        """added (only the candidate has it), removed (only the baseline) or changed."""
        if self.baseline is None:
            return "added"
        return "removed" if self.candidate is None else "changed"


@dataclass(frozen=True)
class EnvironmentContent:
    """The environment axis' content: a package-level diff of the two locks (source "lock") or
    of the recorded library versions (source "libraries"), over `compared` package names."""

    source: Literal["lock", "libraries"]
    changes: tuple[PackageChange, ...]
    compared: int
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableCommit:
    """One commit between the two versions: version, operation, time (UTC) and, in one line,
    its parameters and the writer's metadata (at most DETAILS_CHARS characters)."""

    version: int | str
    operation: str | None
    timestamp: str | None
    details: str = ""


@dataclass(frozen=True)
class ColumnChange:
    """A column added (baseline None), removed (candidate None) or retyped between versions."""

    column: str
    baseline: str | None
    candidate: str | None


@dataclass(frozen=True)
class LabelRate:
    """The share of positive labels of each version (0..1), and where the column name came from."""

    column: str
    source: str
    baseline: float
    candidate: float


@dataclass(frozen=True)
class DataContent:
    """One snapshot (train or eval) read at two versions: the commits in between, rows of each
    version, rows added and removed (the row-set scan, `scan` says how or why not), column
    changes, the label rate, and every part that could not be computed with its reason."""

    role: Role
    format: str
    uri: str
    baseline_version: int | str
    candidate_version: int | str
    commits: tuple[TableCommit, ...] = ()
    rows_baseline: int | None = None
    rows_candidate: int | None = None
    rows_added: int | None = None
    rows_removed: int | None = None
    scan: str | None = None
    columns: tuple[ColumnChange, ...] = ()
    label: LabelRate | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContentDiff:
    """What changed inside the axes that differ: code (patches), environment (packages) and data
    (per snapshot). An axis with nothing to show is None (code, environment) or absent (data)."""

    code: CodeContent | None = None
    environment: EnvironmentContent | None = None
    data: tuple[DataContent, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no axis has content to show."""
        return self.code is None and self.environment is None and not self.data


@dataclass(frozen=True)
class ContentOptions:
    """How far the content diff may go: the label column, the scan's caps, and whether it may
    read the tables at all (False: no log and no data is read, as with --no-snapshot-check)."""

    label_column: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = DEFAULT_MAX_BYTES
    read_data: bool = True
    storage_options: Mapping[str, str] = field(default_factory=dict)


DEFAULT_CONTENT = ContentOptions()


# ---- computing it ------------------------------------------------------------------------------


def content_diff(
    baseline: Manifest, candidate: Manifest, options: ContentOptions = DEFAULT_CONTENT
) -> ContentDiff | None:
    """The content diff of two manifests, or None when no axis has content to show.

    Never raises for what it reads: each part that fails is a "could not compute …" line.
    """
    found = ContentDiff(
        code=code_content(baseline, candidate),
        environment=environment_content(baseline, candidate),
        data=data_content(baseline, candidate, options),
    )
    return None if found.empty else found


def code_content(baseline: Manifest, candidate: Manifest) -> CodeContent | None:
    """Each dirty side's patch when the two sides' code differs by one (None otherwise)."""
    sides = (("baseline", baseline), ("candidate", candidate))
    dirty = [(name, m) for name, m in sides if m.code.dirty is True]
    if not dirty:
        return None
    digests = {name: m.code.diff_sha256 for name, m in sides}
    if (
        len(dirty) == 2
        and is_known(digests["baseline"])
        and digests["baseline"] == digests["candidate"]
        and baseline.code.commit == candidate.code.commit
    ):
        return None  # one patch on one commit: the code is the same
    patches, problems = [], []
    for name, manifest in dirty:
        patch = manifest.code.patch
        if isinstance(patch, Patch):
            patches.append(shown_patch(name, patch))  # type: ignore[arg-type]
        else:
            reason = patch.reason if isinstance(patch, Skipped) else "absent"
            problems.append(f"could not show the {name}'s patch: {reason}")
    return CodeContent(patches=tuple(patches), problems=tuple(problems))


def shown_patch(side: PatchSide, patch: Patch) -> PatchShown:
    """A patch as the report shows it: files, line counts, and its text cut at a line end."""
    files, added, removed = patch_stats(patch.text)
    text, truncated = patch.text, False
    if len(text) > PATCH_SHOWN_CHARS:
        cut = text.rfind("\n", 0, PATCH_SHOWN_CHARS)
        text, truncated = text[: cut + 1 if cut > 0 else PATCH_SHOWN_CHARS], True
    return PatchShown(
        side=side,
        sha256=patch.sha256,
        size=patch.size,
        files=files,
        added=added,
        removed=removed,
        text=text,
        truncated=truncated,
    )


def patch_stats(text: str) -> tuple[tuple[str, ...], int, int]:
    """(files touched, lines added, lines removed) of a unified git diff."""
    files: list[str] = []
    added = removed = 0
    for line in text.splitlines():
        match = _DIFF_FILE.match(line)
        if match:
            files.append(match.group(2))
        elif line.startswith("+") and not line.startswith("+++ "):
            added += 1
        elif line.startswith("-") and not line.startswith("--- "):
            removed += 1
    return tuple(dict.fromkeys(files)), added, removed


def environment_content(baseline: Manifest, candidate: Manifest) -> EnvironmentContent | None:
    """The package-level lock diff, or the libraries diff when a lock names no packages; None
    when the packages compared are the same."""
    locks = [m.code.lock for m in (baseline, candidate)]
    packages = [getattr(lock, "packages", None) or {} for lock in locks]
    problems: list[str] = []
    if all(packages):
        source: Literal["lock", "libraries"] = "lock"
        old, new = packages
    else:
        lock_digests = [getattr(lock, "sha256", None) for lock in locks]
        if all(lock_digests) and lock_digests[0] != lock_digests[1]:
            problems.append(
                "the locks differ but "
                + ("neither names" if not any(packages) else "only one names")
                + " its packages (a manifest captured before code.lock.packages existed, or a "
                "lock without exact pins): the recorded library versions are compared instead"
            )
        source = "libraries"
        old, new = baseline.environment.libraries, candidate.environment.libraries
    changes = lock_diff(old, new)
    if not changes:
        return None
    return EnvironmentContent(
        source=source,
        changes=changes,
        compared=len({_canonical(name) for name in (*old, *new)}),
        problems=tuple(problems),
    )


def lock_diff(
    baseline: Mapping[str, str], candidate: Mapping[str, str]
) -> tuple[PackageChange, ...]:
    """Packages added, removed or at another version, by name (case and -/_/. folded)."""
    old = {_canonical(k): (k, v) for k, v in baseline.items()}
    new = {_canonical(k): (k, v) for k, v in candidate.items()}
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and before[1] == after[1]:
            continue
        name = (after or before or (key, ""))[0]
        changes.append(
            PackageChange(
                name=name,
                baseline=before[1] if before else None,
                candidate=after[1] if after else None,
            )
        )
    return tuple(changes)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def data_content(
    baseline: Manifest, candidate: Manifest, options: ContentOptions = DEFAULT_CONTENT
) -> tuple[DataContent, ...]:
    """One DataContent per snapshot both runs pinned, at two different versions."""
    out = []
    for role in ("train", "eval"):
        old, new = getattr(baseline.data, role), getattr(candidate.data, role)
        if not (isinstance(old, SnapshotRef) and isinstance(new, SnapshotRef)):
            continue
        if not (old.pinned and new.pinned) or (old.uri, old.version) == (new.uri, new.version):
            continue
        if not (is_known(old.version) and is_known(new.version)):
            continue  # plain files pinned by content: nothing to read them back at two versions
        label = _label_column(baseline, candidate, options)
        out.append(table_content(role, old, new, options, label))  # type: ignore[arg-type]
    return tuple(out)


def table_content(
    role: Role,
    old: SnapshotRef,
    new: SnapshotRef,
    options: ContentOptions,
    label: tuple[str, str] | None = None,
) -> DataContent:
    """The content diff of one snapshot read at two versions; never raises."""
    import dataclasses

    base = DataContent(
        role=role,
        format=new.format,
        uri=new.uri,
        baseline_version=old.version,  # type: ignore[arg-type]
        candidate_version=new.version,  # type: ignore[arg-type]
    )
    if not options.read_data:
        return dataclasses.replace(
            base,
            problems=("not computed: the snapshots were not to be read (--no-snapshot-check)",),
        )
    unreachable = _unreachable(old, options) or _unreachable(new, options)
    if unreachable:
        return dataclasses.replace(base, problems=(f"not computed: {unreachable}",))
    problems: list[str] = []
    commits, why = _attempt(lambda: _commits(old, new, options))
    if why:
        problems.append(f"could not compute the commits in between: {why}")
    facts, why = _attempt(lambda: (_facts(old, options), _facts(new, options)))
    if why:
        problems.append(f"could not read the versions' metadata: {why}")
    if facts is None:  # the versions cannot be opened: nothing to scan either
        return dataclasses.replace(base, commits=commits or (), problems=tuple(problems))
    (rows_b, bytes_b, cols_b), (rows_c, bytes_c, cols_c) = facts
    found = dataclasses.replace(
        base,
        commits=commits or (),
        rows_baseline=rows_b,
        rows_candidate=rows_c,
        columns=column_changes(cols_b, cols_c) if cols_b is not None and cols_c is not None else (),
    )
    scanned, why = _attempt(
        lambda: _scan(found, old, new, options, label, (rows_b, bytes_b), (rows_c, bytes_c))
    )
    if why or scanned is None:
        return dataclasses.replace(
            found, problems=(*problems, f"could not compute the row scan: {why}")
        )
    return dataclasses.replace(scanned, problems=(*problems, *scanned.problems))


def _unreachable(ref: SnapshotRef, options: ContentOptions) -> str | None:
    """Why a snapshot is not even tried from here (as the snapshot check says it), else None."""
    if ref.uri.startswith("iceberg://"):
        return None  # the catalog's own configuration says where it is
    if "://" in ref.uri and not ref.uri.startswith("file://"):
        if options.storage_options:
            return None
        return f"{ref.uri} is not a local path (object stores need storage options)"
    local = ref.uri.removeprefix("file://")
    return None if os.path.exists(local) else f"{local} does not exist on this machine"


T = TypeVar("T")


def _attempt(work: Callable[[], T]) -> tuple[T | None, str | None]:
    """(result, None), or (None, the reason in one line) when it raised anything at all: the
    content diff is evidence beside the verdict, never a reason for a diagnosis to fail."""
    try:
        return work(), None
    except Exception as exc:  # noqa: BLE001 - any failure becomes a "could not compute" line
        message = exc.message if isinstance(exc, ReprodiagError) else str(exc)
        text = " ".join(message.split()) or type(exc).__name__
        return None, text if len(text) <= 300 else text[:297] + "..."


def _commits(
    old: SnapshotRef, new: SnapshotRef, options: ContentOptions
) -> tuple[TableCommit, ...]:
    if old.format == "dvc" and new.format == "dvc" and old.uri == new.uri:
        return (  # a DVC path's versions are git commits: the two pins, with their hashes
            TableCommit(old.version, "pinned by the baseline", None, _dvc_words(old)),  # type: ignore[arg-type]
            TableCommit(new.version, "pinned by the candidate", None, _dvc_words(new)),  # type: ignore[arg-type]
        )
    from reprodiag.snapshots.history import versions_between

    older, newer = (old, new) if _before(old, new) else (new, old)
    # After `older`, up to and including `newer` (an error when the history stops short of it).
    return tuple(_commit(v) for v in versions_between(older, newer, options.storage_options))


def _before(old: SnapshotRef, new: SnapshotRef) -> bool:
    if isinstance(old.version, int) and isinstance(new.version, int) and old.format == "delta":
        return old.version <= new.version
    return True


def _dvc_words(ref: SnapshotRef) -> str:
    return f"content {ref.fingerprint}" if is_known(ref.fingerprint) else ""


def _commit(info: VersionInfo) -> TableCommit:
    pairs = {**{str(k): v for k, v in info.parameters.items()}, **dict(info.metadata)}
    words = "; ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, sort_keys=True)}"
        for k, v in sorted(pairs.items())
        if v not in (None, "", [], {})
    )
    if len(words) > DETAILS_CHARS:
        words = words[: DETAILS_CHARS - 3] + "..."
    return TableCommit(
        version=info.version, operation=info.operation, timestamp=info.timestamp, details=words
    )


Facts = tuple[int | None, int | None, tuple[tuple[str, str], ...] | None]


def _facts(ref: SnapshotRef, options: ContentOptions) -> Facts:
    """(rows, bytes of data files, columns) from the table's metadata only."""
    if ref.format == "iceberg":
        return _iceberg_facts(ref, options)
    if ref.format != "delta":
        return None, None, None
    import pyarrow as pa

    from reprodiag.snapshots import reopen

    reopen(ref, options.storage_options)  # the recorded table and version, still there
    from deltalake import DeltaTable

    table = DeltaTable(
        ref.uri.removeprefix("file://"),
        version=int(str(ref.version)),
        storage_options=dict(options.storage_options) or None,
    )
    actions = pa.table(table.get_add_actions(flatten=True))
    counts = actions.column("num_records").to_pylist() if actions.num_rows else []
    rows = None if any(c is None for c in counts) else sum(int(c) for c in counts)
    size = sum(int(s) for s in actions.column("size_bytes").to_pylist()) if actions.num_rows else 0
    schema = pa.schema(table.schema().to_arrow())
    return rows, size, tuple((f.name, str(f.type)) for f in schema)


def _iceberg_facts(ref: SnapshotRef, options: ContentOptions) -> Facts:
    """An Iceberg snapshot's summary totals and the schema it was written with."""
    from reprodiag.snapshots.iceberg import _open_pinned

    table, snapshot = _open_pinned(ref, options.storage_options)
    summary = dict(getattr(snapshot.summary, "additional_properties", {}) or {})
    rows, size = summary.get("total-records"), summary.get("total-files-size")
    schemas = {s.schema_id: s for s in table.metadata.schemas}
    schema = schemas.get(snapshot.schema_id) if snapshot.schema_id is not None else None
    return (
        int(rows) if rows is not None else None,
        int(size) if size is not None else None,
        tuple((f.name, str(f.field_type)) for f in schema.fields) if schema else None,
    )


def column_changes(
    baseline: Sequence[tuple[str, str]], candidate: Sequence[tuple[str, str]]
) -> tuple[ColumnChange, ...]:
    """Columns added, removed or retyped, in the candidate's column order then removed ones."""
    old, new = dict(baseline), dict(candidate)
    changes = [
        ColumnChange(name, old.get(name), kind) for name, kind in candidate if old.get(name) != kind
    ]
    changes += [ColumnChange(name, kind, None) for name, kind in baseline if name not in new]
    return tuple(changes)


def _label_column(
    baseline: Manifest, candidate: Manifest, options: ContentOptions
) -> tuple[str, str] | None:
    """(column, where its name came from), or None to look for a column named `label`."""
    if options.label_column:
        return options.label_column, "--label-column"
    for name, manifest in (("baseline", baseline), ("candidate", candidate)):
        value = manifest.intent.params.get(_LABEL_PARAM)
        if isinstance(value, str) and value:
            return value, f"the {name}'s intent.params.{_LABEL_PARAM}"
    return None


def _scan(
    found: DataContent,
    old: SnapshotRef,
    new: SnapshotRef,
    options: ContentOptions,
    label: tuple[str, str] | None,
    size_b: tuple[int | None, int | None],
    size_c: tuple[int | None, int | None],
) -> DataContent:
    """The row-set comparison and the label rate, within the caps, added to `found`."""
    import dataclasses

    from reprodiag.snapshots import reopen

    def read(columns: list[str] | None = None) -> tuple[pyarrow.Table, pyarrow.Table]:
        return (
            reopen(old, options.storage_options).to_arrow(columns),
            reopen(new, options.storage_options).to_arrow(columns),
        )

    problems: list[str] = []
    over = _over_cap(size_b, size_c, options, 1)
    labels: tuple[pyarrow.Table, pyarrow.Table] | None = None
    if over is None:
        labels = read()
        added, removed, shared = row_set_difference(*labels)
        total = labels[0].num_rows + labels[1].num_rows
        narrower = len(shared) < max(labels[0].num_columns, labels[1].num_columns)
        found = dataclasses.replace(
            found,
            rows_baseline=labels[0].num_rows,
            rows_candidate=labels[1].num_rows,
            rows_added=added,
            rows_removed=removed,
            scan=(
                f"every row of both versions hashed ({total:,} rows, within the cap of "
                f"{options.max_rows:,} rows and {_mib(options.max_bytes)} per version)"
                + (
                    f"; compared on the {len(shared)} columns both versions hold with one type"
                    if narrower
                    else ""
                )
            ),
        )
    else:
        found = dataclasses.replace(found, scan=f"row sets not compared: {over}")
    column, source = label or (DEFAULT_LABEL_COLUMN, f"a column named {DEFAULT_LABEL_COLUMN!r}")
    if labels is None:
        over_label = _over_cap(size_b, size_c, options, LABEL_ROWS_FACTOR, rows_only=True)
        if over_label is not None:
            if label is not None:
                problems.append(f"no label rate: {over_label}")
            return dataclasses.replace(found, problems=tuple(problems))
        try:
            labels = read([column])
        except Exception as exc:  # noqa: BLE001 - a missing column or an unreadable version
            if label is not None:
                problems.append(f"no label rate: column {column!r} ({source}): {exc}")
            return dataclasses.replace(found, problems=tuple(problems))
    missing = [
        side
        for side, table in zip(("baseline", "candidate"), labels, strict=True)
        if column not in table.column_names
    ]
    if missing:
        if label is not None:  # asked for: say why there is no rate
            problems.append(
                f"no label rate: column {column!r} ({source}) is not in the "
                f"{' and '.join(missing)} version"
            )
        return dataclasses.replace(found, problems=tuple(problems))
    rate_b, rate_c = (label_rate(t.column(column)) for t in labels)
    if isinstance(rate_b, str) or isinstance(rate_c, str):
        if label is not None:  # a column merely named `label` may be a class name: no rate
            why = rate_b if isinstance(rate_b, str) else rate_c
            problems.append(f"no label rate for column {column!r}: {why}")
        return dataclasses.replace(found, problems=tuple(problems))
    return dataclasses.replace(
        found, label=LabelRate(column, source, rate_b, rate_c), problems=tuple(problems)
    )


def _over_cap(
    size_b: tuple[int | None, int | None],
    size_c: tuple[int | None, int | None],
    options: ContentOptions,
    factor: int,
    *,
    rows_only: bool = False,
) -> str | None:
    """Why the versions are too large to read (None when both fit the caps)."""
    max_rows = options.max_rows * factor
    for side, (rows, size) in (("baseline", size_b), ("candidate", size_c)):
        if rows is None:
            return (
                f"the {side} version's row count is not in its metadata, so its size cannot be "
                "checked against the cap before reading"
            )
        if rows > max_rows:
            return f"the {side} version has {rows:,} rows, over the cap of {max_rows:,}"
        if not rows_only and size is not None and size > options.max_bytes:
            return (
                f"the {side} version holds {_mib(size)} of data files, over the cap of "
                f"{_mib(options.max_bytes)}"
            )
    return None


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size:,} bytes"


def row_set_difference(old: pyarrow.Table, new: pyarrow.Table) -> tuple[int, int, tuple[str, ...]]:
    """(rows added, rows removed, columns compared): the two versions as multisets of rows,
    each row hashed over the columns both hold with one type (a row whose value changed counts
    as one removed and one added)."""
    import numpy as np
    import pandas as pd

    kinds = {f.name: f.type for f in old.schema}
    shared = tuple(sorted(f.name for f in new.schema if kinds.get(f.name) == f.type))
    hashes = []
    for table in (old, new):
        frame = table.select(list(shared)).to_pandas()
        hashes.append(
            pd.util.hash_pandas_object(frame, index=False).to_numpy()
            if shared
            else np.zeros(table.num_rows, dtype=np.uint64)
        )
    (keys_b, counts_b), (keys_c, counts_c) = (np.unique(h, return_counts=True) for h in hashes)
    keys = np.union1d(keys_b, keys_c)
    count_b = np.zeros(len(keys), dtype=np.int64)
    count_c = np.zeros(len(keys), dtype=np.int64)
    count_b[np.searchsorted(keys, keys_b)] = counts_b
    count_c[np.searchsorted(keys, keys_c)] = counts_c
    added = int(np.maximum(count_c - count_b, 0).sum())
    removed = int(np.maximum(count_b - count_c, 0).sum())
    return added, removed, shared


def label_rate(column: object) -> float | str:
    """The share of positive labels (0..1), or why the column has no such rate."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.drop_null() if hasattr(column, "drop_null") else column  # type: ignore[union-attr]
    if len(values) == 0:  # type: ignore[arg-type]
        return "it holds no value"
    kind = values.type  # type: ignore[union-attr]
    if pa.types.is_boolean(kind):
        return float(pc.mean(values.cast(pa.int64())).as_py())  # type: ignore[union-attr]
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        distinct = set(pc.unique(values).to_pylist())
        if distinct <= {0, 1}:
            return float(pc.mean(values).as_py())
        shown = ", ".join(str(v) for v in sorted(distinct)[:5])
        return f"it is not binary (values {shown}{', ...' if len(distinct) > 5 else ''})"
    return f"it is not binary (type {kind})"


# ---- in words ----------------------------------------------------------------------------------


def percent(share: float) -> str:
    """0.18234 -> "18.23 %"."""
    return f"{100 * share:.2f} %"


def code_summary(code: CodeContent) -> str:
    """One line: each side's patch in numbers, or why it cannot be shown."""
    parts = [
        f"{p.side} patch: {len(p.files)} file{'s' if len(p.files) != 1 else ''} "
        f"(+{p.added} −{p.removed} lines, {p.size:,} bytes)"
        for p in code.patches
    ]
    return "; ".join(parts + list(code.problems)) or "no patch recorded"


def environment_summary(env: EnvironmentContent) -> str:
    """One line: how many packages changed version, were added or removed, with the first few."""
    what = "lock" if env.source == "lock" else "recorded library versions"
    groups = []
    for kind, verb in (("changed", "changed version"), ("added", "added"), ("removed", "removed")):
        items = [c for c in env.changes if c.kind == kind]
        if not items:
            continue
        shown = ", ".join(_package_words(c) for c in items[:4])
        more = f", and {len(items) - 4} more" if len(items) > 4 else ""
        groups.append(f"{len(items)} {verb} ({shown}{more})")
    return f"{what}: " + "; ".join(groups) + f" of {env.compared} packages"


def _package_words(change: PackageChange) -> str:
    if change.kind == "changed":
        return f"{change.name} {change.baseline} → {change.candidate}"
    return f"{change.name} {change.candidate if change.kind == 'added' else change.baseline}"


def data_summary(data: DataContent) -> str:
    """One line: versions, commits in between, rows added and removed, columns, label rate."""
    words = [
        f"{data.role} {data.format} {data.uri} "
        f"{_version(data.baseline_version)} → {_version(data.candidate_version)}"
    ]
    if data.commits and data.format != "dvc":
        operations = ", ".join(
            f"{_version(c.version)} {_operation_words(c)}" for c in data.commits[:6]
        )
        more = f", and {len(data.commits) - 6} more" if len(data.commits) > 6 else ""
        words.append(f"{_commits_span(data)} ({operations}{more})")
    if data.rows_baseline is not None and data.rows_candidate is not None:
        rows = f"rows {data.rows_baseline:,} → {data.rows_candidate:,}"
        if data.rows_added is not None and data.rows_removed is not None:
            rows += f": {data.rows_added:,} added, {data.rows_removed:,} removed"
        words.append(rows)
    if data.columns:
        words.append("columns: " + ", ".join(_column_words(c) for c in data.columns))
    elif data.rows_baseline is not None:
        words.append("same columns")
    if data.label is not None:
        words.append(
            f"label rate ({data.label.column}) {percent(data.label.baseline)} → "
            f"{percent(data.label.candidate)}"
        )
    return "; ".join(words)


def _commits_span(data: DataContent) -> str:
    """`3 commits after v4, up to and including v7`: the commits listed are those after the older
    version up to the newer one (the newer version's own commit is one of them), the semantics of
    reprodiag.snapshots.history.versions_between, which bisection uses too."""
    n = len(data.commits)
    first, last = data.baseline_version, data.candidate_version
    if isinstance(first, int) and isinstance(last, int) and first > last:
        first, last = last, first  # the candidate reads an older version than the baseline
    what = f"{n} commit{'s' if n != 1 else ''}"
    if n == 1:
        return f"{what}: {_version(last)} itself, right after {_version(first)}"
    return f"{what} after {_version(first)}, up to and including {_version(last)}"


def _operation_words(commit: TableCommit) -> str:
    """`WRITE append`: the operation, with the Delta write mode when the commit names one."""
    mode = re.search(r"(?:^|; )mode=([^;]+)", commit.details)
    words = commit.operation or "commit"
    return f"{words} {mode.group(1).lower()}" if mode else words


def _version(version: int | str) -> str:
    return f"v{version}" if isinstance(version, int) else str(version)[:12]


def _column_words(change: ColumnChange) -> str:
    if change.baseline is None:
        return f"+{change.column} ({change.candidate})"
    if change.candidate is None:
        return f"−{change.column} ({change.baseline})"
    return f"{change.column} {change.baseline} → {change.candidate}"


def content_lines(content: ContentDiff) -> dict[str, tuple[str, ...]]:
    """Per axis ("code", "environment", "data"), the lines that say what changed inside it:
    the summary first, then the scan's method and every "could not compute" line."""
    out: dict[str, tuple[str, ...]] = {}
    if content.code is not None:
        out["code"] = (code_summary(content.code),)
    if content.environment is not None:
        env = content.environment
        out["environment"] = (environment_summary(env), *env.problems)
    if content.data:
        lines: list[str] = []
        for data in content.data:
            lines.append(data_summary(data))
            if data.scan:
                lines.append(data.scan)
            lines.extend(data.problems)
        out["data"] = tuple(lines)
    return out
