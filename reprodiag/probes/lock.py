"""The dependency lock of a project: which file pins the libraries, and its sha256.

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
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

from reprodiag.manifest.model import LockRef, Skipped

# (kind, file name) in the order they are looked for; requirements*.txt comes after these.
LOCK_FILES: tuple[tuple[str, str], ...] = (
    ("uv.lock", "uv.lock"),
    ("poetry.lock", "poetry.lock"),
    ("pylock.toml", "pylock.toml"),
)
REQUIREMENTS_GLOB = "requirements*.txt"
_CHUNK = 1 << 20


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
            return LockRef(kind=kind, path=name, sha256=_file_sha256(path))
    return None


def _requirements(root: Path) -> LockRef | None:
    files = sorted(p for p in root.glob(REQUIREMENTS_GLOB) if p.is_file())
    if not files:
        return None
    if len(files) == 1:
        return LockRef("requirements", files[0].name, _file_sha256(files[0]))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        _update_from_file(digest, path)
        digest.update(b"\0")
    names = ",".join(p.name for p in files)
    return LockRef("requirements", names, f"sha256:{digest.hexdigest()}")


def _installed_distributions() -> LockRef:
    lines = sorted(set(installed_requirement_lines()))
    text = "".join(f"{line}\n" for line in lines)
    return LockRef("pip-freeze", None, f"sha256:{hashlib.sha256(text.encode()).hexdigest()}")


def installed_requirement_lines() -> list[str]:
    """``name==version`` for every installed distribution, names normalised (PEP 503)."""
    lines = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:  # a broken install can leave a dist-info with no metadata: nothing to pin
            lines.append(f"{normalize_name(name)}=={dist.version}")
    return lines


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
