"""Reading a manifest: parse strictly, check the schema version, validate, then build records.

Every error names the file, the JSON path, what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import os
import stat
from functools import lru_cache
from typing import Any

from reprodiag._records import RecordError, from_json
from reprodiag.errors import InputError
from reprodiag.manifest.model import READABLE_SCHEMAS, Manifest
from reprodiag.manifest.schema import shipped_schema


class ManifestError(RecordError):
    """A manifest file that cannot be read or does not follow its schema."""


# Any: parsed JSON before validation; manifest_from_json turns it into typed records.
def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # json reads 1e999 as inf without a word: refuse it like the Infinity token it becomes.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range (it reads as {value})")
    return value


# The largest file reprodiag reads as a manifest, diagnosis, policy or params file. A manifest is
# a few kilobytes (a kept patch is capped at a few megabytes); a larger file is refused before it
# is read, so a wrong path (a model checkpoint, /dev/zero) cannot exhaust memory.
MAX_FILE_BYTES = 64 << 20
# The seeds a run may record: what torch.manual_seed and a retrain (RetrainSpec) take.
SEED_RANGE = 2**64

# A manifest is a shallow document (params nest a few levels); a deeper one is refused on load so
# that no recursive walk further on (validation, diff, notes) can run out of stack.
MAX_DEPTH = 64


def parse_json_text(text: str, file: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN or Infinity, no lone surrogate (a `\\udfff`
    escape no UTF-8 encoder can write back) in any string."""
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except _DuplicateKey as exc:
        raise ManifestError(
            file, "$", "each key once per object", f"the key {exc.key!r} twice"
        ) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            file,
            f"line {exc.lineno} column {exc.colno}",
            "valid JSON",
            exc.msg,
            hint="fix the JSON syntax; `python -m json.tool FILE` shows where",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(file, "$", "valid JSON", str(exc)[:200]) from None
    check_strings(doc, file)
    return doc


def check_strings(doc: Any, file: str) -> None:
    """Refuse a lone surrogate in any key or string value, naming its JSON path: Python reads the
    escape `"\\udfff"` into a str that no file, terminal or report can encode (iterative)."""
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _no_surrogate(value, path, file)
        elif isinstance(value, dict):
            for key, child in value.items():
                _no_surrogate(key, path, file, key=True)
                stack.append(
                    (child, f"{path}[{_quoted(key)}]" if not _plain(key) else f"{path}.{key}")
                )
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))


def _plain(key: str) -> bool:
    return key.isidentifier() and key.isascii()


def _quoted(key: str) -> str:
    return json.dumps(key)  # ensure_ascii: the surrogate itself shows as \\udfff


def _no_surrogate(text: str, path: str, file: str, *, key: bool = False) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start].encode("unicode_escape").decode("ascii")
        raise ManifestError(
            file,
            path,
            "text (UTF-8 encodable)",
            f"a lone surrogate {char} at character {exc.start} of "
            + ("a key " if key else "the string ")
            + _quoted(text[:60]),
            hint="a \\uD800-\\uDFFF escape must be half of a pair; fix the writer of this file",
        ) from None


def read_user_file(
    path: str | os.PathLike[str],
    what: str,
    *,
    limit: int = MAX_FILE_BYTES,
    missing_hint: str | None = None,
) -> bytes:
    """The bytes of a file the user named (`what`: "manifest", "policy file" ...): a regular file
    of at most `limit` bytes. A FIFO, a device (/dev/zero), a socket or a folder is refused
    without reading or waiting on it; so is a file over the cap. Raises InputError naming it."""
    file = str(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        noun = what if what.endswith("file") else "file"  # "no such policy file"
        raise InputError(f"{file}: no such {noun}", hint=missing_hint or "check the path") from None
    except IsADirectoryError:
        raise InputError(
            f"{file}: is a folder, not a {what}", hint=f"pass the {what} itself"
        ) from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read the {what}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{file}: is a folder, not a {what}", hint=f"pass the {what} itself")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{file}: not a regular file (a {_kind(info.st_mode)}): a {what} is read only "
                "from a regular file",
                hint=f"save the {what} to a file first and pass that file",
            )
        if info.st_size > limit:
            raise InputError(
                f"{file}: {info.st_size:,} bytes, over the {_size(limit)} a {what} may have",
                hint=f"is this the {what}? reprodiag reads files up to {_size(limit)}",
            )
        try:
            os.set_blocking(fd, True)
            raw = handle.read(limit + 1)  # a file that grew since fstat is still capped
        except OSError as exc:
            raise InputError(f"{file}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise InputError(f"{file}: over the {_size(limit)} a {what} may have")
    return raw


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit:,} bytes"


def read_json_file(path: str | os.PathLike[str], what: str = "manifest") -> Any:
    """Read a UTF-8 JSON file strictly (no duplicate keys, NaN, Infinity or lone surrogates) and
    return the parsed value: a regular file of at most MAX_FILE_BYTES. Raises InputError when the
    file is missing, unreadable, not a regular file or too large, ManifestError when it is not
    valid JSON."""
    file = str(path)
    raw = read_user_file(
        path,
        what,
        missing_hint="check the path; a manifest is written by reprodiag.capture "
        "or `reprodiag capture`"
        if what == "manifest"
        else None,
    )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            file,
            f"byte {exc.start}",
            "UTF-8 text",
            "invalid UTF-8",
            hint=f"a {what} is UTF-8 JSON; re-save the file as UTF-8",
        ) from None
    return parse_json_text(text, file)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(shipped_schema())


def _describe_found(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}" if not isinstance(value, (dict, list)) else text


def _expected(error: Any) -> str:
    validator, schema = error.validator, error.schema
    if validator == "required":
        return f"the field {error.message.split(' is a required')[0]}"
    if validator == "additionalProperties":
        return "only the fields the schema names"
    if validator in ("anyOf", "oneOf"):
        return str(schema.get("description") or "one of the allowed shapes")
    if validator == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if validator == "const":
        return json.dumps(schema["const"])
    if validator == "type":
        return f"type {schema['type']}"
    return str(error.message)


def _check_depth(doc: Any, file: str) -> None:
    """Refuse values nested deeper than MAX_DEPTH (iterative: the check itself cannot overflow)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ManifestError(
                file,
                "$",
                f"values nested at most {MAX_DEPTH} levels deep",
                f"nesting deeper than {MAX_DEPTH} levels",
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _check_metrics(doc: dict[str, Any], file: str) -> None:
    """Metric values must be finite numbers a float holds (JSON allows 1 followed by 400 zeros)."""
    for name, metric in doc["results"]["metrics"].items():
        value = metric["value"]
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            raise ManifestError(
                file,
                f"$.results.metrics[{json.dumps(name)}].value",
                "a finite number",
                _describe_found(value),
            )


def _check_seeds(doc: dict[str, Any], file: str) -> None:
    """Recorded seeds must be ones a retrain can replay: integers in [0, 2**64)."""
    for name, value in doc["randomness"].items():
        if not name.endswith("_seed") or isinstance(value, (dict, bool)):
            continue
        if isinstance(value, int) and not 0 <= value < SEED_RANGE:
            raise ManifestError(
                file,
                f"$.randomness.{name}",
                "an integer in [0, 2**64) (the seeds torch and a retrain take)",
                _describe_found(value),
                hint="record the seed the run actually passed to its generators",
            )


def validate_document(doc: Any, file: str) -> None:
    """Check a parsed manifest document against the shipped schema and the readable schema ids.
    Raises ManifestError naming the file, the JSON path, what was expected and what was found."""
    _check_depth(doc, file)
    check_strings(doc, file)
    if not isinstance(doc, dict):
        raise ManifestError(file, "$", "a JSON object", _describe_found(doc))
    schema_id = doc.get("schema")
    if schema_id not in READABLE_SCHEMAS:
        raise ManifestError(
            file,
            "$.schema",
            "one of " + ", ".join(READABLE_SCHEMAS),
            _describe_found(schema_id),
            hint="this reprodiag reads "
            + ", ".join(READABLE_SCHEMAS)
            + "; upgrade reprodiag to read a newer manifest, or re-capture the run",
        )
    import jsonschema

    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        _check_metrics(doc, file)
        _check_seeds(doc, file)
        return
    error = jsonschema.exceptions.best_match(errors)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        found = "unknown field(s) " + ", ".join(map(repr, extra))
    elif error.validator == "required":
        found = "it missing"
    else:
        found = _describe_found(error.instance)
    more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
    raise ManifestError(
        file,
        error.json_path,
        _expected(error),
        found + more,
        hint="compare with the published schema: reprodiag schema",
    )


def manifest_from_json(doc: Any, file: str = "<manifest>") -> Manifest:
    """Validate a parsed manifest against the published schema, then rebuild its records."""
    validate_document(doc, file)
    return from_json(Manifest, doc, file=file, error=ManifestError)


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read, validate and build a manifest; raises ManifestError or InputError on bad input."""
    return manifest_from_json(read_json_file(path), str(path))
