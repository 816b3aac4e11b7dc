"""Output digests: sha256 of what a run produced, so two runs can be compared bit for bit.

Every digest is "sha256:<hex>" over a canonical byte stream, never over a pickle (whose bytes
depend on the torch version and the pickler, not on the numbers):

- an array (numpy array, torch tensor, or anything `numpy.asarray` takes): a header line with the
  dtype name ("float32", the same for numpy and torch), the shape and the byte count, then the
  C-order, little-endian bytes of the CPU copy;
- tensors by name (a torch module's state_dict, a state_dict itself, or any mapping of arrays
  such as a scikit-learn estimator's fitted `coef_` and `intercept_`): the names sorted, each with
  its own header (name, dtype, shape, byte count) and bytes. A module and its state_dict, or a
  state_dict and the same arrays in numpy, give the same digest;
- a file: its bytes, streamed, with its size recorded next to the digest.

torch and numpy are imported only inside the functions that digest their objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reprodiag.errors import InputError
from reprodiag.manifest.model import FileDigest, OutputDigests

_ARRAY_FORMAT = b"reprodiag.array/v1\n"
_ARRAYS_FORMAT = b"reprodiag.arrays/v1\n"
_CHUNK = 1 << 20  # files are hashed 1 MiB at a time: a 10 GB checkpoint never sits in memory
_HEX = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")

FilesArg = Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]]


def normalize_digest(text: str) -> str:
    """ "sha256:<hex>" from a digest given as "<64 hex>" or "sha256:<64 hex>" (any case)."""
    match = _HEX.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{text[:80]!r} is not a sha256 digest",
            hint="give 64 hex digits, optionally prefixed with sha256: (as sha256sum prints them)",
        )
    return "sha256:" + match.group(1).lower()


# Any: torch tensors and numpy arrays, told apart at run time: neither is imported until needed.
def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "untyped_storage")


def _tensor_parts(value: Any) -> tuple[str, tuple[int, ...], bytes]:
    """(dtype name, shape, C-order little-endian bytes) of a CPU copy of a torch tensor."""
    import torch

    tensor = value.detach()
    if tensor.layout != torch.strided:
        raise InputError(
            f"cannot digest a {tensor.layout} tensor",
            hint="pass its dense form (tensor.to_dense())",
        )
    tensor = tensor.cpu().contiguous()
    if tensor.is_conj():
        tensor = tensor.resolve_conj()
    shape = tuple(int(n) for n in tensor.shape)
    dtype = str(tensor.dtype).removeprefix("torch.")
    # Raw bytes through a uint8 view work for every dtype, bfloat16 included (numpy has none).
    data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
    return dtype, shape, data


def _array_parts(value: Any, what: str) -> tuple[str, tuple[int, ...], bytes]:
    if _is_torch_tensor(value):
        return _tensor_parts(value)
    import numpy as np

    array = np.asarray(value)
    if array.dtype.hasobject:
        raise InputError(
            f"cannot digest {what}: it holds Python objects (dtype object), not numbers or text",
            hint="convert it to a numeric or string array first, e.g. numpy.asarray(x, float)",
        )
    if array.dtype.byteorder == ">":  # the same numbers give the same digest on any host
        array = array.astype(array.dtype.newbyteorder("<"))
    # tobytes(order="C") copies a strided view in C order; ascontiguousarray would make a 0-d
    # array 1-d (a BatchNorm's num_batches_tracked) and change the shape in the header.
    return array.dtype.name, tuple(int(n) for n in array.shape), array.tobytes(order="C")


def _header(parts: tuple[str, tuple[int, ...], bytes], name: str | None = None) -> bytes:
    dtype, shape, data = parts
    fields: list[Any] = [dtype, list(shape), len(data)]
    return (json.dumps([name, *fields] if name is not None else fields) + "\n").encode()


def array_digest(array: Any) -> str:
    """sha256 of one array: a numpy array, a torch tensor (any device), or a list of numbers."""
    parts = _array_parts(array, "the array")
    digest = hashlib.sha256(_ARRAY_FORMAT)
    digest.update(_header(parts))
    digest.update(parts[2])
    return "sha256:" + digest.hexdigest()


def arrays_digest(arrays: Mapping[str, Any]) -> str:
    """sha256 of named arrays (a state_dict, a scikit-learn estimator's fitted arrays), names
    sorted so the order the mapping was built in does not matter."""
    digest = hashlib.sha256(_ARRAYS_FORMAT)
    for name in sorted(arrays, key=str):
        parts = _array_parts(arrays[name], f"{name!r}")
        digest.update(_header(parts, str(name)))
        digest.update(parts[2])
    return "sha256:" + digest.hexdigest()


def weights_digest(weights: Any) -> str:
    """sha256 of a model's weights: a torch module (its state_dict: parameters and persistent
    buffers), a state_dict or any mapping of arrays, one array, or a digest already computed."""
    if isinstance(weights, str):
        return normalize_digest(weights)
    state_dict = getattr(weights, "state_dict", None)
    if callable(state_dict) and not isinstance(weights, Mapping):
        weights = state_dict()
    if isinstance(weights, Mapping):
        return arrays_digest(weights)
    return array_digest(weights)


def predictions_digest(predictions: Any) -> str:
    """sha256 of predictions: an array or tensor of scores, logits or labels, or a digest."""
    if isinstance(predictions, str):
        return normalize_digest(predictions)
    return array_digest(predictions)


def file_digest(
    path: str | os.PathLike[str], *, name: str | None = None, root: Path | None = None
) -> FileDigest:
    """sha256 and size of a file, streamed. Its recorded name is `name`, else its path relative
    to `root` (the run's output folder) when it lies inside, else the path as given."""
    file = Path(path)
    try:
        digest, size = hashlib.sha256(), 0
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(
            f"cannot digest the output file {file}: {exc.strerror or exc}",
            hint="log an output file after it is written, with a path that exists",
        ) from None
    return FileDigest(
        name=name or _file_name(file, root), sha256="sha256:" + digest.hexdigest(), size=size
    )


def _file_name(file: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return file.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return file.as_posix()


def predictions_file_digest(path: str | os.PathLike[str]) -> str:
    """The predictions digest of a file a pipeline wrote: for a .npy file, the digest of the
    array it holds (equal to `predictions_digest` of that array in Python; pickled object
    arrays are refused); for any other file, the sha256 of its bytes."""
    file = Path(path)
    if file.suffix.lower() != ".npy":
        return file_digest(file).sha256
    import numpy as np

    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read the predictions file {file} as a NumPy array: {exc}",
            hint="write it with numpy.save(path, predictions) (numbers or strings, no objects)",
        ) from None
    return array_digest(array)


def file_digests(files: FilesArg, root: Path | None = None) -> tuple[FileDigest, ...]:
    """Digests of output files: paths (named relative to `root`) or a mapping name -> path."""
    if isinstance(files, (str, os.PathLike)):
        files = (files,)
    if isinstance(files, Mapping):
        digests = [file_digest(p, name=str(n), root=root) for n, p in files.items()]
    else:
        digests = [file_digest(p, root=root) for p in files]
    by_name = {d.name: d for d in digests}  # a name given twice keeps its last file
    return tuple(sorted(by_name.values(), key=lambda d: d.name))


def output_digests(
    *,
    weights: object = None,  # told apart by probes below: torch stays unimported until needed
    predictions: object = None,
    files: FilesArg = (),
    root: str | os.PathLike[str] | None = None,
) -> OutputDigests:
    """The OutputDigests record of one run's outputs; what is not given stays unrecorded."""
    return OutputDigests(
        weights=None if weights is None else weights_digest(weights),
        predictions=None if predictions is None else predictions_digest(predictions),
        files=file_digests(files, Path(root) if root is not None else None),
    )


def merge_outputs(earlier: OutputDigests | None, later: OutputDigests) -> OutputDigests:
    """Two log_outputs calls of one run: later digests replace earlier ones; files accumulate,
    a file logged again under the same name keeping its latest digest."""
    if earlier is None:
        return later
    files = {f.name: f for f in earlier.files}
    files.update({f.name: f for f in later.files})
    return OutputDigests(
        weights=later.weights if later.weights is not None else earlier.weights,
        predictions=later.predictions if later.predictions is not None else earlier.predictions,
        files=tuple(sorted(files.values(), key=lambda f: f.name)),
    )
