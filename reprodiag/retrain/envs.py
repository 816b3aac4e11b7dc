"""A run's Python environment rebuilt from its dependency lock with uv: the environment swap.

`environment_for(lock, cache)` returns the Python interpreter of a virtual environment that holds
exactly the lock's pins (`LockRef.packages`, reprodiag.probes.lock), plus reprodiag itself so a
retrain worker can run in it. One environment is kept per lock digest and Python version
(`<cache>/<sha256 prefix>-py<X.Y>/`): it is built in a temporary folder next to it and renamed
into place once complete (`uv venv --relocatable`, so the move breaks nothing), and a lock file
(`<key>.lock`, fcntl) makes a second builder wait for the first and then reuse its result.

What goes in, with `uv pip install`:
- every pin of the lock, exactly (`name==version`); nothing the lock pins is ever changed;
- reprodiag's own runtime dependencies that the lock does not name (its `Requires-Dist`, extras
  left out), resolved preferring the versions the running reprodiag uses (as constraints; when
  those conflict with the lock, uv resolves them freely). They, and whatever the pins themselves
  pull in, are the packages **added beyond the lock**: the environment's metadata file
  (`reprodiag-env.json`, `environment_info`) lists them so a report can say so;
- reprodiag itself, without touching any pin: a copy of the running package (its source files,
  refreshed when they change) on the environment's path through a `.pth` file, with a minimal
  `reprodiag-<version>.dist-info` so `importlib.metadata` sees its version. No build backend, no
  index, and the retrain runs exactly the reprodiag that planned it.

Which package index: uv does not read pip's configuration. When none of uv's own index settings
is present (UV_INDEX_URL, UV_DEFAULT_INDEX, UV_INDEX, UV_EXTRA_INDEX_URL, UV_FIND_LINKS,
UV_NO_INDEX, a uv.toml), pip's effective configuration (`python -m pip config list`: files and
PIP_* variables) is translated: `index-url` (pip's default: https://pypi.org/simple) becomes
`--default-index`, each `extra-index-url` an `--index`, each `find-links` a `--find-links`,
each `constraint` file a `--constraint`, `no-index` `--no-index`, `cert` SSL_CERT_FILE; and
`--index-strategy unsafe-best-match`, which is how pip picks a version across several indexes
(uv's default takes the first index that has the name, so a pin that only a later index holds
would not be found). An http(s) index that does not answer within a few seconds is left out (and
said so), so a machine without internet still builds from its local indexes and wheel folders;
when no index or wheel folder answers at all, the error says so. With uv's own settings present,
uv reads them itself and nothing is translated.

Where uv comes from: `uv` on PATH, else the `uv` Python package (`pip install
'reprodiag[envswap]'`).

Where an environment cannot be rebuilt, `EnvironmentUnavailable` says which and why: no uv, a lock
that pins nothing, no interpreter of the Python version asked for, no index reachable, a pin that
no index offers or that fails to install (uv's own message, cut), or an installed version that is
not the pin. The other ways to restore an environment that issue 13 names (the baseline's
container image with docker or podman, a Ray node of the baseline's GPU type) are not implemented;
`alternatives` says which of them this machine could offer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from reprodiag._atomic import atomic_write_text
from reprodiag.errors import ReprodiagError
from reprodiag.manifest.model import EnvironmentAxis, LockRef
from reprodiag.probes.lock import normalize_name
from reprodiag.retrain.pipconfig import (
    PIP_DEFAULT_INDEX,
    UV_INDEX_SETTINGS,
    pip_config_list,
    pip_settings,
    uv_config_file,
)

ENV_FORMAT = "reprodiag.environment/v1"
ENV_META = "reprodiag-env.json"
CACHE_ENV = "REPRODIAG_ENV_CACHE"  # overrides the default cache folder
PTH_NAME = "_reprodiag_envswap.pth"
INDEX_PROBE_S = 5.0  # how long an http(s) index gets to answer before it is left out
# Never pinned from a lock: reprodiag is put into the environment by copy (module docstring).
NOT_FROM_LOCK = frozenset({"reprodiag"})
_ERROR_TAIL = 600


class EnvironmentUnavailable(ReprodiagError):
    """The environment cannot be rebuilt; `kind` says which cause (no_uv, no_packages,
    no_python, unreachable, unresolvable, install_failed, mismatch, timeout)."""

    def __init__(self, kind: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind


@dataclass(frozen=True)
class IndexConfig:
    """The index arguments handed to uv, extra environment variables, and what they are in
    words (for the metadata and the errors)."""

    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentInfo:
    """A rebuilt environment, as its metadata file records it: the interpreter, the lock it was
    built from, its Python version, the lock's pins, the packages added beyond the lock
    (name → version), reprodiag's version in it, and the uv and index used."""

    python: str
    lock_kind: str
    lock_sha256: str
    python_version: str
    pins: Mapping[str, str]
    added: Mapping[str, str]
    reprodiag: str
    uv: str
    index: tuple[str, ...]

    def added_words(self) -> str:
        """'added beyond the lock: numpy 2.1.0, pandas 2.2.3' or 'nothing added beyond the
        lock'."""
        if not self.added:
            return "nothing added beyond the lock"
        shown = ", ".join(f"{n} {v}" for n, v in list(self.added.items())[:8])
        more = len(self.added) - 8
        return f"added beyond the lock: {shown}" + (f" and {more} more" if more > 0 else "")


def default_cache() -> Path:
    """REPRODIAG_ENV_CACHE, else $XDG_CACHE_HOME/reprodiag/envs (~/.cache/reprodiag/envs)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reprodiag" / "envs"


def find_uv() -> str:
    """The uv executable: on PATH, else the `uv` Python package's; EnvironmentUnavailable
    (no_uv) when there is neither."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv  # the uv wheel ships the binary and finds it

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        raise EnvironmentUnavailable(
            "no_uv",
            "uv was not found: it is not on PATH and the `uv` Python package is not installed",
            hint="pip install 'reprodiag[envswap]' (or install uv: "
            "https://docs.astral.sh/uv/getting-started/installation/)",
        ) from None


def environment_for(
    lock: LockRef,
    cache: Path | None = None,
    *,
    python: str | None = None,
    uv: str | None = None,
    timeout_s: float = 1800.0,
    say: Callable[[str], None] | None = None,
) -> Path:
    """The Python interpreter of the environment rebuilt from `lock`'s pins (module docstring).

    python: the Python version to build it with ("3.11"; None: this interpreter's). A cached
    environment for the same lock digest and Python version is reused as it is.
    """
    pins = {normalize_name(n): v for n, v in lock.packages.items()}
    pins = {n: v for n, v in pins.items() if n not in NOT_FROM_LOCK}
    where = f"{lock.kind} {lock.path}" if lock.path else lock.kind
    if not pins:
        raise EnvironmentUnavailable(
            "no_packages",
            f"the lock ({where}) pins no exact version: there is nothing to rebuild",
            hint="record a lock with exact pins (uv.lock, poetry.lock, pylock.toml, "
            "requirements.txt of name==version lines, or no lock file: the installed "
            "distributions are then recorded)",
        )
    version = _python_version(python)
    cache = Path(cache) if cache is not None else default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    key = f"{lock.sha256.removeprefix('sha256:')[:16]}-py{version}"
    final = cache / key
    with _locked(cache / f"{key}.lock"):
        if not (final / ENV_META).is_file():
            shutil.rmtree(final, ignore_errors=True)  # not ours: an environment is renamed whole
            uv_bin = uv or find_uv()
            if say is not None:
                say(f"rebuilding the environment of {where} with uv (Python {version})")
            _build(final, lock, pins, python, uv_bin, timeout_s)
        _provide_reprodiag(final)
    return _interpreter(final)


def environment_info(python: str | os.PathLike[str]) -> EnvironmentInfo:
    """The metadata of the rebuilt environment `python` belongs to."""
    root = _root_of(Path(python))
    raw = json.loads((root / ENV_META).read_text(encoding="utf-8"))
    return EnvironmentInfo(
        python=str(_interpreter(root)),
        lock_kind=raw["lock"]["kind"],
        lock_sha256=raw["lock"]["sha256"],
        python_version=raw["python"],
        pins=raw["pins"],
        added=raw["added"],
        reprodiag=raw.get("reprodiag", {}).get("version", "unknown"),
        uv=raw["uv"],
        index=tuple(raw["index"]),
    )


def alternatives(
    environment: EnvironmentAxis, which: Callable[[str], str | None] = shutil.which
) -> tuple[str, ...]:
    """The other ways issue 13 names to restore the baseline's environment, as this machine
    offers them (none is implemented): its container image with a container runtime, a Ray node
    of its GPU type."""
    out = []
    image = environment.container_image
    if isinstance(image, str):
        runtime = next((r for r in ("docker", "podman") if which(r)), None)
        if runtime:
            out.append(
                f"could run in the baseline's image {image} with {runtime} "
                "(container retrains are not implemented yet)"
            )
        else:
            out.append(
                f"the baseline's image {image} is recorded, but no container runtime "
                "(docker, podman) is on PATH"
            )
    gpu = environment.gpu_name
    if isinstance(gpu, str):
        out.append(
            f"a Ray node of the baseline's GPU type ({gpu}, Ray accelerator_type) is not "
            "available to retrains yet"
        )
    return tuple(out)


# ---------------------------------------------------------------------------- building


def _build(
    final: Path,
    lock: LockRef,
    pins: Mapping[str, str],
    python: str | None,
    uv_bin: str,
    timeout_s: float,
) -> None:
    index = index_config()
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=final.parent))
    try:
        env_dir = tmp / "env"
        request = python or sys.executable
        _uv(
            [uv_bin, "venv", "--relocatable", "--python", request, str(env_dir)],
            "create",
            f"Python {request}",
            tmp,
            {},
            timeout_s,
        )
        interpreter = _interpreter(env_dir)
        files = _requirement_files(tmp, pins)
        install = [uv_bin, "pip", "install", "--python", str(interpreter), *index.args]
        install += ["-r", str(files["pins"]), "-r", str(files["added"])]
        try:
            _uv([*install, "-c", str(files["prefer"])], "install", "", tmp, index.env, timeout_s)
        except EnvironmentUnavailable as exc:
            if exc.kind not in ("unresolvable", "install_failed"):
                raise
            # The running reprodiag's versions conflict with the lock: let uv resolve them.
            _uv(install, "install", "", tmp, index.env, timeout_s)
        installed = _installed(interpreter)
        wrong = {n: installed.get(n) for n, v in pins.items() if installed.get(n) != v}
        if wrong:
            shown = ", ".join(
                f"{n} is {got or 'missing'}, pinned {pins[n]}" for n, got in wrong.items()
            )
            raise EnvironmentUnavailable(
                "mismatch", f"the rebuilt environment does not hold the lock's pins: {shown}"
            )
        added = {n: v for n, v in sorted(installed.items()) if n not in pins}
        meta = {
            "format": ENV_FORMAT,
            "lock": {"kind": lock.kind, "path": lock.path, "sha256": lock.sha256},
            "python": _run_python(interpreter, "import platform; print(platform.python_version())"),
            "pins": dict(sorted(pins.items())),
            "added": added,
            "uv": _run([uv_bin, "--version"], timeout_s=60).strip(),
            "index": list(index.words),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_text(env_dir / ENV_META, json.dumps(meta, indent=2, sort_keys=True))
        os.rename(env_dir, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _requirement_files(folder: Path, pins: Mapping[str, str]) -> dict[str, Path]:
    """pins.txt (the lock's pins), added.txt (reprodiag's requirements the lock does not name)
    and prefer.txt (the running environment's versions of everything else, as constraints)."""
    wanted = [r for r in _reprodiag_requirements() if _requirement_name(r) not in pins]
    here: dict[str, str] = {}
    for dist in metadata.distributions():
        meta = dist.metadata
        name = normalize_name(meta["Name"]) if meta and meta["Name"] else None
        if name and name not in pins and name not in NOT_FROM_LOCK:
            here.setdefault(name, meta["Version"])
    texts = {
        "pins": [f"{n}=={v}" for n, v in sorted(pins.items())],
        "added": wanted,
        "prefer": [f"{n}=={v}" for n, v in sorted(here.items())],
    }
    out = {}
    for name, lines in texts.items():
        out[name] = folder / f"{name}.txt"
        out[name].write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return out


def _reprodiag_requirements() -> list[str]:
    """reprodiag's runtime requirements (no extras), from its metadata or its pyproject.toml."""
    try:
        requires = metadata.requires("reprodiag") or []
    except metadata.PackageNotFoundError:
        from reprodiag._toml import loads

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        requires = list(loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])
    return [r for r in requires if not re.search(r"\bextra\s*==", r)]


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return normalize_name(match[1]) if match else requirement


def _installed(interpreter: Path) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({d.metadata['Name']: d.metadata['Version'] "
        "for d in m.distributions() if d.metadata and d.metadata['Name']}))"
    )
    raw = json.loads(_run_python(interpreter, script))
    return {normalize_name(n): v for n, v in raw.items()}


def _provide_reprodiag(root: Path) -> None:
    """Put the running reprodiag into the environment (module docstring); a no-op when the copy
    there is already of the same source files."""
    import reprodiag

    source = Path(reprodiag.__file__).resolve().parent
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    folder = root / f"reprodiag-src-{digest.hexdigest()[:16]}"
    if not folder.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix=".reprodiag-src-", dir=root))
        for path in files:
            target = tmp / "reprodiag" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        version = _reprodiag_version()
        info = tmp / f"reprodiag-{version}.dist-info"
        info.mkdir()
        # A local copy, as pip records one: a pip-freeze lock of this environment leaves it out.
        local = {"url": folder.as_uri(), "dir_info": {}}
        (info / "direct_url.json").write_text(json.dumps(local), encoding="utf-8")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: reprodiag\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "INSTALLER").write_text("reprodiag-envswap\n", encoding="utf-8")
        os.rename(tmp, folder)
    purelib = Path(
        _run_python(_interpreter(root), "import sysconfig; print(sysconfig.get_path('purelib'))")
    )
    pth = purelib / PTH_NAME
    if not pth.is_file() or pth.read_text(encoding="utf-8").strip() != str(folder):
        atomic_write_text(pth, f"{folder}\n")
        meta_path = root / ENV_META
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["reprodiag"] = {"version": _reprodiag_version(), "source_sha256": digest.hexdigest()}
        atomic_write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True))


def _reprodiag_version() -> str:
    try:
        return metadata.version("reprodiag")
    except metadata.PackageNotFoundError:
        return "0+unknown"


# ---------------------------------------------------------------------------- the index


def index_config(
    environ: Mapping[str, str] | None = None,
    pip_config: Mapping[str, str] | None = None,
    probe: Callable[[str], str | None] | None = None,
) -> IndexConfig:
    """The index arguments for uv (module docstring): none when uv has its own settings, else
    pip's configuration translated, with unreachable http(s) indexes left out.

    pip_config: pip's `section.key → value` (None: read with `python -m pip config list`);
    probe: url → None when it answers, else why not (None: a real request).
    """
    env = os.environ if environ is None else environ
    uv_settings = [name for name in UV_INDEX_SETTINGS if env.get(name)]
    if uv_settings or uv_config_file(env):
        shown = ", ".join(uv_settings) or "a uv.toml"
        return IndexConfig(words=(f"uv's own settings ({shown})",))
    config = pip_settings(pip_config if pip_config is not None else pip_config_list(timeout=60))
    probe = probe or _probe_url
    args: list[str] = ["--index-strategy", "unsafe-best-match"]
    words: list[str] = []
    extra_env: dict[str, str] = {}
    reachable = 0
    if "no-index" in config and config["no-index"].lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
        words.append("no index (pip's no-index)")
    else:
        indexes = [
            ("--default-index", u) for u in config.get("index-url", PIP_DEFAULT_INDEX).split()
        ]
        indexes += [("--index", u) for u in config.get("extra-index-url", "").split()]
        for flag, url in indexes:
            why = probe(url)
            if why is None:
                args += [flag, url]
                words.append(f"index {url}")
                reachable += 1
            else:
                words.append(f"index {url} left out: {why}")
        if not reachable:  # never fall back to uv's own default (pypi.org) behind pip's back
            args.append("--no-index")
    for link in config.get("find-links", "").split():
        path = link.removeprefix("file://")
        if "://" in link and not link.startswith("file://"):
            args += ["--find-links", link]
            words.append(f"find-links {link}")
            reachable += 1
        elif os.path.isdir(path):
            args += ["--find-links", path]
            words.append(f"find-links {path}")
            reachable += 1
        else:
            words.append(f"find-links {link} left out: not a folder on this machine")
    for constraint in config.get("constraint", "").split():
        if os.path.isfile(constraint):
            args += ["--constraint", constraint]
            words.append(f"constraints {constraint}")
    cert = config.get("cert")
    if cert and not env.get("SSL_CERT_FILE") and os.path.isfile(cert):
        extra_env["SSL_CERT_FILE"] = cert
    if not reachable:
        raise EnvironmentUnavailable(
            "unreachable",
            "no package index is reachable from this machine: " + "; ".join(words),
            hint="configure an index pip or uv can reach (pip config set global.index-url URL, "
            "or UV_INDEX_URL / UV_FIND_LINKS for uv)",
        )
    return IndexConfig(tuple(args), extra_env, tuple(words))


def _probe_url(url: str) -> str | None:
    if url.startswith("file://"):
        return (
            None if os.path.isdir(url.removeprefix("file://")) else "not a folder on this machine"
        )
    if "://" not in url:
        return None if os.path.isdir(url) else "not a folder on this machine"
    try:
        with urllib.request.urlopen(url, timeout=INDEX_PROBE_S) as response:  # noqa: S310
            response.read(1)
    except urllib.error.HTTPError as exc:
        if exc.code < 500:  # it answers (a 401 or 404 on the root page still serves projects)
            return None
        return f"it answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer within {INDEX_PROBE_S:g} s ({reason})"
    return None


# ---------------------------------------------------------------------------- processes


_UNREACHABLE = re.compile(
    r"dns error|error sending request|failed to connect|connection refused|network is unreachable"
    r"|operation timed out|offline mode|tcp connect error",
    re.IGNORECASE,
)
_UNRESOLVABLE = re.compile(
    r"no solution found|not found in the package registry|no version of|unsatisfiable"
    r"|was not found in the provided package locations|no matching distribution",
    re.IGNORECASE,
)


def _uv(
    argv: Sequence[str],
    step: str,
    what: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
) -> None:
    """Run one uv step; EnvironmentUnavailable with the kind and uv's own words when it fails."""
    try:
        out = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            cwd=cwd,  # a folder with no project or uv.toml of its own
            env={**os.environ, **env},
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentUnavailable(
            "timeout", f"uv {step} did not finish within {timeout_s:g} s"
        ) from None
    if out.returncode == 0:
        return
    tail = _tail(out.stderr or out.stdout)
    if step == "create":
        raise EnvironmentUnavailable(
            "no_python",
            f"uv could not create an environment with {what}: {tail}",
            hint="install that Python (uv python install X.Y) or rebuild with this one",
        )
    if _UNREACHABLE.search(tail):
        raise EnvironmentUnavailable("unreachable", f"no package index could be reached: {tail}")
    if _UNRESOLVABLE.search(tail):
        raise EnvironmentUnavailable(
            "unresolvable",
            f"the lock's pins cannot be installed from the reachable indexes: {tail}",
            hint="a pin that no reachable index offers must be made available (an index, "
            "find-links) before this environment can be rebuilt",
        )
    raise EnvironmentUnavailable("install_failed", f"uv pip install failed: {tail}")


def _tail(text: str) -> str:
    lines = [
        line.strip()
        for line in text.strip().splitlines()
        if line.strip() and not line.startswith("Using Python")  # uv's own progress line
    ]
    joined = " / ".join(lines)
    return joined if len(joined) <= _ERROR_TAIL else "…" + joined[-_ERROR_TAIL:]


def _run(argv: Sequence[str], timeout_s: float) -> str:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout_s, check=True
    ).stdout


def _run_python(interpreter: Path, script: str) -> str:
    # -I: isolated (no user site, no PYTHON* variables, not the current folder on the path).
    return _run([str(interpreter), "-I", "-c", script], timeout_s=120).strip()


def _interpreter(root: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - Windows
        return root / "Scripts" / "python.exe"
    return root / "bin" / "python"


def _root_of(python: Path) -> Path:
    for parent in python.absolute().parents:
        if (parent / ENV_META).is_file():
            return parent
    raise FileNotFoundError(f"{python} is not the interpreter of a rebuilt environment")


def _python_version(request: str | None) -> str:
    if request is None:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", request.strip())
    if match is None:
        raise EnvironmentUnavailable(
            "no_python", f"not a Python version: {request!r} (expected X.Y or X.Y.Z)"
        )
    return f"{match[1]}.{match[2]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` while the block runs (other builders wait); no-op where
    fcntl does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
