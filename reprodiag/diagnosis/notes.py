"""Version-aware notes: what a differing (or telling) fact means for reproducibility, in one line.

Each rule is a small function `FieldDiff -> str | None`, listed in the explicit tuple `NOTE_RULES`
(no import-time registry). `annotate` joins every note that applies. Notes state facts and their
documented consequence, never a verdict: the ranking decides, with the checks behind it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from reprodiag.diagnosis.model import FieldDiff
from reprodiag.manifest.codec import skipped_of
from reprodiag.manifest.model import JSONValue

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_EVAL_IDENTITY = (
    "data.eval",
    "data.eval.format",
    "data.eval.uri",
    "data.eval.version",
    "data.eval.table_id",
)


def show(value: object, limit: int = 60) -> str:
    """A fact's value in words, short enough for a table cell or a reason."""
    if value is None:
        return "absent"
    if (skipped := skipped_of(value)) is not None:
        return f"not recorded ({skipped.reason})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == {} or value == []:
        return "none"
    if isinstance(value, dict) and {"format", "uri"} <= set(value):
        return snapshot_words(value)
    if isinstance(value, str):
        if _HEX40.match(value):
            return value[:7]
        if _SHA256.match(value):
            return value[:19]
        text = value
    elif isinstance(value, list):
        text = ", ".join(show(v) for v in value) or "[]"
    else:
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def snapshot_words(ref: JSONValue) -> str:
    """`delta /data/events v3`, or `delta /data/events (read as latest)` with no version.

    ref: a SnapshotRef as to_jsonable writes it; raises TypeError for any other JSON value.
    """
    if not isinstance(ref, Mapping):
        raise TypeError(f"not a snapshot ref: {ref!r}")
    version = ref.get("version")
    if version is None or isinstance(version, dict):
        return f"{ref.get('format')} {ref.get('uri')} (read as latest)"
    return f"{ref.get('format')} {ref.get('uri')} v{version}"


def _differs(fd: FieldDiff, *paths: str) -> bool:
    return fd.status == "differs" and fd.path in paths


def _arrow(fd: FieldDiff) -> str:
    return f"{show(fd.baseline)} → {show(fd.candidate)}"


def _minor(version: object) -> str:
    match = re.match(r"^(\d+\.\d+)", str(version))
    return match.group(1) if match else str(version)


def torch_version(fd: FieldDiff) -> str | None:
    """A note when the torch version differs: bitwise-identical results are not promised across
    versions."""
    if not _differs(fd, "environment.torch_version"):
        return None
    b, c = _minor(fd.baseline), _minor(fd.candidate)
    pair = f"{b} → {c}" if b != c else _arrow(fd)
    return f"torch {pair}: bitwise-identical results are not promised across torch versions"


def cpu_bits(fd: FieldDiff) -> str | None:
    """A note when the CPU thread count or kernel level (AVX512 vs default) differs: CPU results
    change bits with either."""
    if _differs(fd, "environment.threads"):
        return f"on the CPU, bits change with the thread count ({_arrow(fd)})"
    if _differs(fd, "environment.cpu_capability"):
        return f"on the CPU, bits change with the kernel level ({_arrow(fd)}; AVX512 vs default)"
    return None


def gpu_generation(fd: FieldDiff) -> str | None:
    """A note when the GPU model differs: reduction orders and kernels change with it."""
    if not _differs(fd, "environment.gpu_name"):
        return None
    return f"a different GPU generation changes reduction orders and kernels ({_arrow(fd)})"


def cuda_stack(fd: FieldDiff) -> str | None:
    """A note when the CUDA, cuDNN or NCCL version differs: kernels and reduction orders can
    change."""
    names = {"environment.cuda": "CUDA", "environment.cudnn": "cuDNN", "environment.nccl": "NCCL"}
    if fd.status != "differs" or fd.path not in names:
        return None
    return f"{names[fd.path]} {_arrow(fd)}: kernels and their reduction orders can change"


def precision(fd: FieldDiff) -> str | None:
    """A note when TF32 or the float32 matmul precision differs: that alone changes results."""
    if _differs(fd, "environment.tf32_matmul", "environment.tf32_cudnn"):
        return (
            f"TF32 {_arrow(fd)}: TF32 rounds matmul inputs to a 10-bit mantissa; "
            "the precision change alone changes results"
        )
    if _differs(fd, "environment.matmul_precision"):
        return f"matmul precision {_arrow(fd)}: the precision change alone changes results"
    return None


def _sides_holding(fd: FieldDiff, value: bool) -> str | None:
    """Where the flag is `value`: "both sides", "the baseline", "the candidate", or None."""
    sides = [s for s, v in (("baseline", fd.baseline), ("candidate", fd.candidate)) if v is value]
    if not sides:
        return None
    return "both sides" if len(sides) == 2 else f"the {sides[0]}"


def nondeterministic(fd: FieldDiff) -> str | None:
    """A note when deterministic algorithms were off on either side: equal seeds then need not
    give equal results."""
    if fd.path != "randomness.deterministic_algorithms":
        return None
    where = _sides_holding(fd, False)
    if where is None:
        return None
    return (
        f"deterministic algorithms off on {where}: nondeterministic kernels allowed, "
        "so equal seeds need not give equal results"
    )


def lock_file(fd: FieldDiff) -> str | None:
    """A note when the dependency lock changed: installed library versions can differ."""
    if not _differs(fd, "code.lock.sha256", "code.lock"):
        return None
    return "the dependency lock changed: installed library versions can differ"


def dirty_tree(fd: FieldDiff) -> str | None:
    """A note when either side had uncommitted changes: the commit alone does not describe its
    code."""
    if fd.path != "code.dirty":
        return None
    where = _sides_holding(fd, True)
    if where is None:
        return None
    return f"uncommitted changes on {where}: the commit alone does not describe the code"


def container_image(fd: FieldDiff) -> str | None:
    """A note when the container image differs: any library or system package in it can differ."""
    if not _differs(fd, "environment.container_image"):
        return None
    return "a different image: any library or system package in it can differ"


def snapshot_version(fd: FieldDiff) -> str | None:
    """A note on a training or evaluation snapshot version: read as latest (the rows cannot be
    identified), or how many versions apart the two sides are."""
    if fd.path not in ("data.train.version", "data.eval.version"):
        return None
    if fd.status == "unversioned":
        return (
            "read as latest: no version was recorded, so the rows it read cannot be "
            "identified or read again"
        )
    b, c = fd.baseline, fd.candidate
    if (
        fd.status == "differs"
        and isinstance(b, int)
        and isinstance(c, int)
        and not isinstance(b, bool)
        and not isinstance(c, bool)
    ):
        apart = abs(c - b)
        return f"v{b} → v{c}: {apart} version{'s' if apart != 1 else ''} apart"
    return None


def snapshot_missing(fd: FieldDiff) -> str | None:
    """A note when a side recorded no snapshot at all: its data cannot be identified or read
    again."""
    if fd.path not in ("data.train", "data.eval") or fd.status != "unversioned":
        return None
    return "no snapshot recorded: the data this run read cannot be identified or read again"


def eval_moved(fd: FieldDiff) -> str | None:
    """A note when the evaluation set's identity differs: the metric was measured on other data."""
    # Once per snapshot identity field; the fingerprint follows the version and would repeat it.
    if fd.status != "differs" or fd.path not in _EVAL_IDENTITY:
        return None
    return (
        "the evaluation set moved: the metric is measured on different data — this is a data change"
    )


# transformers' enable_full_determinism sets these (src/transformers/trainer_utils.py).
_HF_DETERMINISM = (
    "CUDA_LAUNCH_BLOCKING",
    "FLASH_ATTENTION_DETERMINISTIC",
    "ASCEND_LAUNCH_BLOCKING",
    "HCCL_DETERMINISTIC",
)


def library_seeding(fd: FieldDiff) -> str | None:
    """A note when a library seeding variable (PL_GLOBAL_SEED, ...) differs between the sides: a
    different seed for the generators it seeds."""
    # A variable set on one side only is "unversioned" in the diff; it is still a difference.
    prefix = "randomness.library_seeding."
    if not fd.path.startswith(prefix) or fd.status == "same" or fd.baseline == fd.candidate:
        return None
    name = fd.path.removeprefix(prefix)
    if name == "PL_GLOBAL_SEED":
        return (
            f"Lightning's seed_everything seeded every generator from PL_GLOBAL_SEED"
            f" ({_arrow(fd)}): a different value is a different seed for python, numpy and torch"
        )
    if name == "PL_SEED_WORKERS":
        return (
            f"PL_SEED_WORKERS {_arrow(fd)}: with seed_everything(workers=True) Lightning seeds"
            " every DataLoader worker from the global seed; without it workers' numpy and"
            " random draws are not derived from it"
        )
    if name in _HF_DETERMINISM:
        return (
            f"{name} {_arrow(fd)}: set by transformers' enable_full_determinism, so"
            " the two runs asked for different kernel determinism"
        )
    return None


NoteRule = Callable[[FieldDiff], "str | None"]

NOTE_RULES: tuple[NoteRule, ...] = (
    torch_version,
    cpu_bits,
    gpu_generation,
    cuda_stack,
    precision,
    nondeterministic,
    lock_file,
    dirty_tree,
    container_image,
    snapshot_version,
    snapshot_missing,
    eval_moved,
    library_seeding,
)


def annotate(fd: FieldDiff, rules: tuple[NoteRule, ...] = NOTE_RULES) -> FieldDiff:
    """The field with every applicable note joined into `note`, after any note it already has."""
    notes = ([fd.note] if fd.note else []) + [note for rule in rules if (note := rule(fd))]
    return replace(fd, note="; ".join(notes)) if notes else fd
