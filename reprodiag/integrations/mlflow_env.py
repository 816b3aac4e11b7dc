"""The environment files an MLflow run logged: requirements.txt, conda.yaml, python_env.yaml.

Looked for, first match per file name wins: the run's top-level artifacts, then one folder down
(MLflow 2 logs a model under e.g. ``model/``), then the logged models the run produced (MLflow 3
keeps those apart from the run's artifacts). The lock is the sha256 of the file's bytes, so
``sha256sum requirements.txt`` on the downloaded artifact verifies it by hand.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprodiag.manifest.model import Fact, LockRef, Skipped

ENV_FILES = ("requirements.txt", "conda.yaml", "python_env.yaml")
NO_LOCK = Skipped(
    "not recorded by MLflow: the run logged no requirements.txt or conda.yaml "
    "(neither as an artifact nor with a logged model)",
    "not_recorded",
)
NO_PYTHON = Skipped(
    "not recorded by MLflow: the run logged no python_env.yaml or conda.yaml "
    "naming the python version",
    "not_recorded",
)
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")
_PYTHON_ENV = re.compile(r"^\s*python:\s*['\"]?([0-9][0-9.]*)", re.MULTILINE)
_CONDA_PYTHON = re.compile(r"^\s*-\s*python\s*[=<>]=?\s*([0-9][0-9.]*)", re.MULTILINE)


@dataclass(frozen=True)
class EnvFiles:
    """What a run's logged environment files (requirements.txt, python_env.yaml, conda.yaml)
    tell: the lock, the Python version and pinned library versions; each skipped with the
    reason when absent."""

    lock: Fact[LockRef] = NO_LOCK
    python: Fact[str] = NO_PYTHON
    libraries: Mapping[str, str] = field(default_factory=dict)


# Any: mlflow's client and run objects; mlflow is imported lazily (an optional extra).
def environment_files(client: Any, run: Any, warnings: list[str]) -> EnvFiles:
    """Read the lock, Python version and library pins from the run's artifacts; a failure to read
    them becomes skipped facts and a warning, never an exception."""
    try:
        found = _find(client, run)
    except Exception as exc:  # unreadable artifacts lose the environment, never the import
        warnings.append(f"could not read the run's artifacts: {type(exc).__name__}: {exc}")
        reason = Skipped(
            f"not recorded: the run's artifacts could not be read ({type(exc).__name__})", "failed"
        )
        return EnvFiles(lock=reason, python=reason)
    lock: Fact[LockRef] = NO_LOCK
    for name, kind in (("requirements.txt", "requirements"), ("conda.yaml", "conda.yaml")):
        if name in found:
            where, data = found[name]
            lock = LockRef(
                kind=kind, path=where, sha256=f"sha256:{hashlib.sha256(data).hexdigest()}"
            )
            break
    return EnvFiles(
        lock=lock,
        python=_python(found) or NO_PYTHON,
        libraries=_pins(found["requirements.txt"][1]) if "requirements.txt" in found else {},
    )


def _find(client: Any, run: Any) -> dict[str, tuple[str, bytes]]:
    """file name -> (where it was found, its bytes)."""
    found: dict[str, tuple[str, bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="reprodiag-mlflow-") as tmp:
        for where, read in _candidates(client, run, Path(tmp)):
            name = where.rsplit("/", 1)[-1]
            if name in ENV_FILES and name not in found:
                found[name] = (where, read())
    return found


def _candidates(client: Any, run: Any, tmp: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    run_id = run.info.run_id

    def run_file(path: str) -> Callable[[], bytes]:
        return lambda: Path(client.download_artifacts(run_id, path, str(tmp))).read_bytes()

    top = client.list_artifacts(run_id)
    for info in top:
        if not info.is_dir:
            yield info.path, run_file(info.path)
    for folder in (i for i in top if i.is_dir):
        for info in client.list_artifacts(run_id, folder.path):
            if not info.is_dir:
                yield info.path, run_file(info.path)
    yield from _logged_model_files(client, run, tmp)


def _logged_model_files(
    client: Any, run: Any, tmp: Path
) -> Iterator[tuple[str, Callable[[], bytes]]]:
    import mlflow

    outputs = getattr(run, "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        model = client.get_logged_model(output.model_id)
        for info in client.list_logged_model_artifacts(output.model_id):
            if info.is_dir or info.path.rsplit("/", 1)[-1] not in ENV_FILES:
                continue
            uri = f"{model.artifact_location.rstrip('/')}/{info.path}"

            def read(uri: str = uri) -> bytes:
                return Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=uri, dst_path=str(tmp), tracking_uri=client.tracking_uri
                    )
                ).read_bytes()

            yield f"models:/{output.model_id}/{info.path}", read


def _python(found: Mapping[str, tuple[str, bytes]]) -> str | None:
    for name, pattern in (("python_env.yaml", _PYTHON_ENV), ("conda.yaml", _CONDA_PYTHON)):
        if name in found:
            match = pattern.search(found[name][1].decode("utf-8", "replace"))
            if match:
                return match.group(1)
    return None


def _pins(data: bytes) -> dict[str, str]:
    """``name==version`` lines, names normalised (PEP 503); ranges and URLs are not pins."""
    from reprodiag.probes.lock import normalize_name

    pins = {}
    for line in data.decode("utf-8", "replace").splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalize_name(match.group(1))] = match.group(2)
    return dict(sorted(pins.items()))
