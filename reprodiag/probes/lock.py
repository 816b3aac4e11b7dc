"""The dependency lock of a project: which file pins the libraries, its sha256, and its pins.

Search order at the project root (the first kind found wins):

1. ``uv.lock``, 2. ``poetry.lock``, 3. ``pylock.toml`` (PEP 751), 4. ``requirements*.txt``.

``pylock.toml`` is checked before ``requirements*.txt`` because it is a complete lock (every
package pinned and hashed) while requirements files are often loose ranges. When no lock file
exists the digest of the installed distributions stands in for one (kind ``pip-freeze``): it
changes whenever any installed package or version changes, which is what a lock would catch.

Digest rules (all ``"sha256:<hex>"``):
- one lock file: the sha256 of its bytes, so ``sha256sum uv.lock`` verifies it by hand;
- several requirements files: for each file in sorted name order, its name, a NUL byte, its bytes,
  a NUL byte; the record's path is the comma-joined relative names;
- pip-freeze: sorted, de-duplicated ``name==version`` lines (names normalised as in PEP 503),
  each ending in a newline.

The pins (``LockRef.packages``: normalised name → exact version) are what an environment swap
rebuilds (reprodiag.retrain.envs) and what the package-level lock diff compares. Only packages
that an index can serve again at that exact version are pins:
- ``uv.lock``: every ``[[package]]`` from a registry; the project itself and packages from git,
  a path, a directory or a URL are left out. A package locked at several versions (uv forks the
  resolution per platform or Python version) keeps its highest version;
- ``poetry.lock``: every ``[[package]]`` except those whose ``source`` is git, a directory, a
  file or a URL (a ``legacy`` source is an index: kept); a ``markers`` string (poetry 2) that is
  false on the capturing interpreter drops the package;
- ``pylock.toml``: every ``[[packages]]`` with a ``version`` and no ``vcs``, ``directory`` or
  ``archive`` source; a ``marker`` false on the capturing interpreter drops it;
- ``requirements*.txt``: only exact pins, ``name==version`` (extras and hashes allowed, ``===``
  too); ranges (``>=``, ``~=``), wildcards (``==1.*``), unpinned names, URLs, editable installs
  (``-e``) and included files (``-r``, ``-c``) pin nothing and are left out; the first file in
  sorted order wins a name pinned twice;
- ``pip-freeze``: every installed distribution, except those installed from a local directory,
  in editable mode or from a VCS (their ``direct_url.json`` says so): no index has them.
Markers are evaluated with ``packaging`` when it is importable; without it they are kept. Lock
files list every platform's packages (``uv.lock``, ``poetry.lock`` without markers), so a pin for
another platform only stays in the list; rebuilding then fails on it and says which package.
A lock file that cannot be parsed keeps its digest and pins nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from reprodiag._toml import loads as toml_loads
from reprodiag.manifest.model import JSONValue, LockRef, Skipped

# (kind, file name) in the order they are looked for; requirements*.txt comes after these.
LOCK_FILES: tuple[tuple[str, str], ...] = (
    ("uv.lock", "uv.lock"),
    ("poetry.lock", "poetry.lock"),
    ("pylock.toml", "pylock.toml"),
)
REQUIREMENTS_GLOB = "requirements*.txt"
_CHUNK = 1 << 20
# name[extras] == version (or ===) ; markers  --hash=... : one exact pin of a requirements line
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<op>===|==)\s*(?P<version>[^\s;,*]+)\s*(?:;(?P<marker>.*))?$"
)


def probe_lock(root: Path) -> LockRef | Skipped:
    """The lock file at ``root`` (see the module docstring), else a digest of installed packages."""
    try:
        root = Path(root)
        return _lock_file(root) or _requirements(root) or _installed_distributions()
    except Exception as e:  # a failing probe never sinks the manifest
        return Skipped(f"probe failed: {type(e).__name__}: {e}", "failed")


def _lock_file(root: Path) -> LockRef | None:
    for kind, name in LOCK_FILES:
        path = root / name
        if path.is_file():
            return LockRef(kind, name, _file_sha256(path), lock_packages(kind, path))
    return None


def _requirements(root: Path) -> LockRef | None:
    files = sorted(p for p in root.glob(REQUIREMENTS_GLOB) if p.is_file())
    if not files:
        return None
    packages: dict[str, str] = {}
    for path in reversed(files):  # the first file in sorted order wins a name pinned twice
        packages.update(lock_packages("requirements", path))
    if len(files) == 1:
        return LockRef("requirements", files[0].name, _file_sha256(files[0]), packages)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        _update_from_file(digest, path)
        digest.update(b"\0")
    names = ",".join(p.name for p in files)
    return LockRef("requirements", names, f"sha256:{digest.hexdigest()}", packages)


_cache = {"on": False}  # set by remember_installed_distributions()


def remember_installed_distributions() -> None:
    """From now on, read the installed distributions once per state of the site-packages folders
    on sys.path, not once per capture. A warm retrain worker turns this on: it captures one
    manifest per retrain, with the same installed set, and reading every distribution's metadata
    takes 0.2-0.5 s."""
    _cache["on"] = True


def _installed_distributions() -> LockRef:
    if _cache["on"]:
        return _installed_for(_path_state())
    return _read_installed()


def _path_state() -> tuple[tuple[str, int], ...]:
    """sys.path, with the modification time of each site-packages folder on it: installing,
    upgrading or removing a distribution adds or removes a *.dist-info folder there, which changes
    it. (Other folders, such as the current one, change whenever a run writes beside its code.)"""
    state = []
    for entry in sys.path:
        mtime = -1
        if entry.endswith(("site-packages", "dist-packages")):
            try:
                mtime = os.stat(entry).st_mtime_ns
            except OSError:
                pass
        state.append((entry, mtime))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _installed_for(path_state: tuple[tuple[str, int], ...]) -> LockRef:
    return _read_installed()


def _read_installed() -> LockRef:
    lines, pins = _installed(metadata.distributions())
    text = "".join(f"{line}\n" for line in sorted(set(lines)))
    return LockRef("pip-freeze", None, f"sha256:{hashlib.sha256(text.encode()).hexdigest()}", pins)


def installed_requirement_lines() -> list[str]:
    """``name==version`` for every installed distribution, names normalised (PEP 503)."""
    return _installed(metadata.distributions())[0]


def installed_pins(distributions: Iterable[metadata.Distribution] | None = None) -> dict[str, str]:
    """The installed distributions an index can serve again: normalised name → version, without
    those installed from a local directory, in editable mode or from a VCS."""
    return _installed(metadata.distributions() if distributions is None else distributions)[1]


def _installed(
    distributions: Iterable[metadata.Distribution],
) -> tuple[list[str], dict[str, str]]:
    # One pass (reading every distribution's metadata is most of a capture's lock probe).
    lines: list[str] = []
    pins: dict[str, str] = {}
    local: set[str] = set()  # a name with any local copy on the path (an in-tree egg-info too)
    for dist in distributions:
        meta = dist.metadata  # parsed on every access: read once
        name = meta["Name"] if meta else None
        if not name:  # a broken install can leave a dist-info with no metadata: nothing to pin
            continue
        key = normalize_name(name)
        lines.append(f"{key}=={meta['Version']}")
        pins.setdefault(key, meta["Version"])
        if _local_install(dist):
            local.add(key)
    return lines, {k: v for k, v in sorted(pins.items()) if k not in local}


def _local_install(dist: metadata.Distribution) -> bool:
    try:
        text = dist.read_text("direct_url.json")
        info = json.loads(text) if text else None
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and ("dir_info" in info or "vcs_info" in info)


def lock_packages(kind: str, path: Path) -> dict[str, str]:
    """The exact pins of one lock file of `kind` (see the module docstring); {} when the file
    cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
        if kind == "requirements":
            pins = _requirements_pins(text)
        else:
            pins = _TOML_PINS[kind](toml_loads(text))
    except (OSError, UnicodeDecodeError, ValueError):  # TOMLDecodeError is a ValueError
        return {}
    return dict(sorted(pins.items()))


def _uv_lock_pins(doc: Mapping[str, JSONValue]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for entry in _tables(doc.get("package")):
        name, version, source = entry.get("name"), entry.get("version"), entry.get("source")
        from_registry = isinstance(source, Mapping) and "registry" in source
        if isinstance(name, str) and isinstance(version, str) and from_registry:
            key = normalize_name(name)
            if key not in pins or _version_key(version) > _version_key(pins[key]):
                pins[key] = version
    return pins


_POETRY_NOT_INDEX = frozenset({"git", "directory", "file", "url"})


def _poetry_pins(doc: Mapping[str, JSONValue]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for entry in _tables(doc.get("package")):
        name, version, source = entry.get("name"), entry.get("version"), entry.get("source")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        if isinstance(source, Mapping) and source.get("type") in _POETRY_NOT_INDEX:
            continue
        markers = entry.get("markers")
        if isinstance(markers, str) and not _marker_holds(markers):
            continue
        pins[normalize_name(name)] = version
    return pins


def _pylock_pins(doc: Mapping[str, JSONValue]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for entry in _tables(doc.get("packages")):
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        if any(key in entry for key in ("vcs", "directory", "archive")):
            continue
        marker = entry.get("marker")
        if isinstance(marker, str) and not _marker_holds(marker):
            continue
        pins[normalize_name(name)] = version
    return pins


_TOML_PINS = {"uv.lock": _uv_lock_pins, "poetry.lock": _poetry_pins, "pylock.toml": _pylock_pins}


def _requirements_pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)  # a comment (a URL's '#' follows no space)
        line = re.sub(r"\s--?[a-z][\w-]*(?:[=\s]\S+)?", "", f" {line}").strip()  # --hash=...
        match = _PIN.match(line)
        if match is None:
            continue
        marker = match["marker"]
        if marker and not _marker_holds(marker.strip()):
            continue
        pins.setdefault(normalize_name(match["name"]), match["version"])
    return pins


def _tables(value: JSONValue | None) -> list[Mapping[str, JSONValue]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _marker_holds(marker: str) -> bool:
    """Whether an environment marker holds on this interpreter; True when it cannot be told."""
    try:
        from packaging.markers import InvalidMarker, Marker
    except ImportError:  # packaging is nearly everywhere, but not a dependency: keep the pin
        return True
    try:
        return bool(Marker(marker).evaluate())
    except InvalidMarker:
        return True


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # Enough to order the versions one lock holds of a package (1.26.4 < 2.0.0 < 2.0.0.post1).
    parts = re.findall(r"\d+|[a-z]+", version.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def normalize_name(name: str) -> str:
    """PEP 503 normalisation: ``Scikit_Learn`` and ``scikit-learn`` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    _update_from_file(digest, path)
    return f"sha256:{digest.hexdigest()}"


def _update_from_file(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
