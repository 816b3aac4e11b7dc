"""The environment axis: one small probe per fact about the host, torch and the GPUs.

Probes are listed in explicit tuples (`HOST_FACTS`, `TORCH_FACTS`, `GPU_FACTS`); `probe_environment`
runs each one on its own, so a probe that fails is recorded as `Skipped` with its reason and never
sinks the others. torch and pynvml are imported inside the probes that need them.

torch facts apply only to a run that uses torch: when torch is not installed, or the run has not
imported it, they are skipped as not_applicable (a scikit-learn run is not missing them). The
other frameworks (scikit-learn, XGBoost, LightGBM, JAX) are probed by `frameworks.py`, again only
when the run imported them. `refresh_environment` probes, at the end of the run, a framework
first imported during training.

GPU facts come from NVML (nvidia-ml-py). NVML sees every GPU of the machine, whatever
CUDA_VISIBLE_DEVICES says: the count and UUIDs describe the host, not what the job could use.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from reprodiag.manifest.model import EnvironmentAxis, Fact, JSONValue, Skipped
from reprodiag.probes._probe import FactSkip, run_fact
from reprodiag.probes.frameworks import not_in_use, probe_frameworks

TORCH_MISSING = "torch is not installed"
TORCH_NOT_IMPORTED = "the run did not import torch"
NO_DRIVER = "no NVIDIA driver: NVML library not found"
NO_IMAGE = "no container image digest visible from inside the process"

# Env vars read for the container image, first digest wins. REPRODIAG_CONTAINER_IMAGE is the one
# to set (image@sha256:... in the job spec); the others are conventions teams bake into images.
# Docker and Kubernetes expose no digest inside the container by themselves.
IMAGE_ENV_VARS = ("REPRODIAG_CONTAINER_IMAGE", "CONTAINER_IMAGE", "IMAGE_DIGEST", "DOCKER_IMAGE")
CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")  # docker, podman
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CGROUP_RUNTIMES = ("docker", "kubepods", "containerd", "libpod", "crio")

LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "deltalake",
    "scikit-learn",
    "torch",
    "xgboost",
    "lightgbm",
    "jax",
    "jaxlib",
)


# Any: pynvml and torch modules, imported lazily (optional extras), and the facts they report.
def probe_environment(nvml: Any | None = None) -> EnvironmentAxis:
    """Capture the environment axis. ``nvml``: an NVML module; None imports ``pynvml``."""
    facts = {name: run_fact(probe) for name, probe in HOST_FACTS + TORCH_FACTS}
    facts.update(gpu_facts(nvml))
    libs = run_fact(libraries)
    return EnvironmentAxis(
        **facts,
        libraries=libs if isinstance(libs, dict) else {},
        frameworks=_frameworks(),
    )


def _frameworks() -> dict[str, dict[str, JSONValue]]:
    try:
        return probe_frameworks()
    except Exception as e:  # the frameworks are one fact among many: never sink the axis
        return {"probe": {"skipped": f"probe failed: {type(e).__name__}: {e}", "kind": "failed"}}


def refresh_environment(env: EnvironmentAxis) -> EnvironmentAxis:
    """`env` with the frameworks imported since it was probed: torch facts skipped because the
    run had not imported torch yet are probed now, and new frameworks are added. What was read
    at the start is kept (the tier was judged on it)."""
    torch_later = env.torch_version == Skipped(TORCH_NOT_IMPORTED, "not_applicable")
    # Any: each torch probe returns its own fact type; EnvironmentAxis checks them by field.
    torch_facts: dict[str, Any] = (
        {name: run_fact(probe) for name, probe in TORCH_FACTS} if torch_later else {}
    )
    frameworks = {**_frameworks(), **env.frameworks}
    if not torch_facts and frameworks == dict(env.frameworks):
        return env
    return replace(env, **torch_facts, frameworks=frameworks)


# -- host --------------------------------------------------------------------------------------


def python() -> str:
    """The interpreter and its version, e.g. "CPython 3.11.9"."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def os_name(os_release: Path = Path("/etc/os-release")) -> str:
    """The distribution's PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)"), else platform()."""
    if os_release.is_file():
        for line in os_release.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "PRETTY_NAME" and value.strip().strip("\"'"):
                return value.strip().strip("\"'")
    return platform.platform()


def kernel() -> str:
    """The OS kernel release, e.g. "6.1.0-18-amd64"."""
    return platform.release()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from /proc/cpuinfo (else platform.processor()); skipped when neither
    says."""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    if platform.processor():
        return platform.processor()
    raise FactSkip(
        "CPU model reported neither by /proc/cpuinfo nor by platform.processor()", "failed"
    )


def hostname() -> str:
    """The machine's host name."""
    return socket.gethostname()


def container_image(environ: Mapping[str, str] | None = None) -> str:
    """The image reference with its digest, from `IMAGE_ENV_VARS`; a tag alone is not a pin."""
    environ = os.environ if environ is None else environ
    tags = []
    for var in IMAGE_ENV_VARS:
        value = environ.get(var, "").strip()
        if _DIGEST.search(value):
            return value
        if value:
            tags.append(f"{var}={value}")
    detail = f"; {', '.join(tags)} names no digest (tags move)" if tags else ""
    where = in_container()
    hint = f" (in a container: {where})" if where else ""
    fix = f"; set REPRODIAG_CONTAINER_IMAGE=<image>@sha256:<digest> in the job spec{hint}"
    raise FactSkip(NO_IMAGE + detail + (fix if where or tags else ""), "not_recorded")


def in_container() -> str | None:
    """What shows this process runs in a container (a marker file or a cgroup path), else None."""
    for marker in CONTAINER_MARKERS:
        if os.path.exists(marker):
            return marker
    cgroup = Path("/proc/self/cgroup")
    text = cgroup.read_text(errors="replace") if cgroup.is_file() else ""
    found = [name for name in _CGROUP_RUNTIMES if name in text]
    return f"/proc/self/cgroup mentions {found[0]}" if found else None


def libraries() -> dict[str, str]:
    """Versions of the libraries that most often change results; absent ones are left out."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


HOST_FACTS: tuple[tuple[str, Callable[[], Any]], ...] = (
    ("python", python),
    ("os", os_name),
    ("kernel", kernel),
    ("cpu_model", cpu_model),
    ("container_image", container_image),
    ("hostname", hostname),
)


# -- torch -------------------------------------------------------------------------------------


def _torch() -> Any:
    skip = not_in_use("torch", "torch")
    if skip is not None:
        raise FactSkip(skip.reason, skip.kind)
    import torch

    return torch


def cpu_capability() -> str:
    """The CPU kernel set torch dispatches to ("AVX512", "AVX2", "DEFAULT")."""
    # AVX512 vs DEFAULT kernels give different bits for the same seed (DEPENDENCIES.md, torch).
    return str(_torch().backends.cpu.get_cpu_capability())


def threads() -> int:
    """How many threads torch uses for CPU ops (torch.get_num_threads())."""
    return int(_torch().get_num_threads())


def torch_version() -> str:
    """The installed torch version, e.g. "2.4.1+cu124"."""
    return str(_torch().__version__)


def torch_build() -> str:
    """ "cpu", "cuda 12.4" or "rocm 6.2", with the short git revision torch was built from."""
    version = _torch().version
    hip = getattr(version, "hip", None)
    base = f"cuda {version.cuda}" if version.cuda else f"rocm {hip}" if hip else "cpu"
    rev = (getattr(version, "git_version", None) or "")[:7]
    return f"{base} (git {rev})" if rev else base


def cuda() -> str:
    """The CUDA version torch was built against, e.g. "12.4"; skipped for a build without CUDA."""
    version = _torch().version.cuda
    if not version:
        raise FactSkip("torch is a build without CUDA")
    return str(version)


def cudnn() -> str:
    """The cuDNN version torch loads, e.g. "9.1.0"; skipped when cuDNN is not available."""
    backend = _torch().backends.cudnn
    if not backend.is_available():
        raise FactSkip("cuDNN is not available to this torch build")
    return cudnn_version_text(int(backend.version()))


def cudnn_version_text(version: int) -> str:
    """90100 is "9.1.0" (9.x: major*10000 + minor*100 + patch); 8902 is "8.9.2" (8.x: *1000)."""
    major, rest = divmod(version, 10000) if version >= 10000 else divmod(version, 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def nccl() -> str:
    """The NCCL version torch loads, e.g. "2.20.5"; skipped when CUDA is not available."""
    torch = _torch()
    if not torch.cuda.is_available():
        raise FactSkip("CUDA is not available: no NCCL version to read")
    version = torch.cuda.nccl.version()
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def tf32_matmul() -> bool:
    """Whether CUDA matmuls may use TF32 (torch.backends.cuda.matmul.allow_tf32)."""
    return bool(_torch().backends.cuda.matmul.allow_tf32)


def tf32_cudnn() -> bool:
    """Whether cuDNN convolutions may use TF32 (torch.backends.cudnn.allow_tf32)."""
    return bool(_torch().backends.cudnn.allow_tf32)


def matmul_precision() -> str:
    """torch's float32 matmul precision: "highest", "high" or "medium"."""
    return str(_torch().get_float32_matmul_precision())


TORCH_FACTS: tuple[tuple[str, Callable[[], Any]], ...] = (
    ("cpu_capability", cpu_capability),
    ("threads", threads),
    ("torch_version", torch_version),
    ("torch_build", torch_build),
    ("cuda", cuda),
    ("cudnn", cudnn),
    ("nccl", nccl),
    ("tf32_matmul", tf32_matmul),
    ("tf32_cudnn", tf32_cudnn),
    ("matmul_precision", matmul_precision),
)


# -- GPUs (NVML) -------------------------------------------------------------------------------


def gpu_facts(nvml: Any | None = None) -> dict[str, Fact[Any]]:
    """The GPU facts, read between one nvmlInit and its nvmlShutdown (always called after init)."""
    try:
        nvml = importlib.import_module("pynvml") if nvml is None else nvml
    except ImportError:
        return _all_gpu_facts(
            Skipped("nvidia-ml-py is not installed (import pynvml failed)", "failed")
        )
    try:
        nvml.nvmlInit()
    except Exception as e:
        return _all_gpu_facts(_nvml_init_failure(nvml, e))
    try:
        return {name: run_fact(probe, nvml) for name, probe in GPU_FACTS}
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: S110 - the facts are read; a failing shutdown must not lose them
            pass


def _all_gpu_facts(skipped: Skipped) -> dict[str, Fact[Any]]:
    return {name: skipped for name, _ in GPU_FACTS}


def _nvml_init_failure(nvml: Any, error: Exception) -> Skipped:
    # No driver (library missing or not loaded): the host has no usable GPU, so GPU facts do not
    # apply. Any other NVML error: the GPUs may be there, unread.
    not_found = getattr(nvml, "NVMLError_LibraryNotFound", None)
    if not_found is not None and isinstance(error, not_found):
        return Skipped(NO_DRIVER, "not_applicable")
    not_loaded = getattr(nvml, "NVMLError_DriverNotLoaded", None)
    if not_loaded is not None and isinstance(error, not_loaded):
        return Skipped(f"no NVIDIA driver loaded: {error}", "not_applicable")
    return Skipped(f"NVML could not start: {type(error).__name__}: {error}", "failed")


def _text(value: str | bytes) -> str:
    # nvidia-ml-py before 12 returned bytes
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_count(nvml: Any) -> int:
    """How many GPUs NVML sees (0 on a host without any)."""
    return int(nvml.nvmlDeviceGetCount())


def gpu_name(nvml: Any) -> str:
    """The name of GPU 0, e.g. "NVIDIA H100 80GB HBM3"; skipped when NVML sees no GPU."""
    if gpu_count(nvml) == 0:
        raise FactSkip("no GPU visible to NVML")
    return _text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(0)))


def gpu_uuids(nvml: Any) -> tuple[str, ...]:
    """The UUID of every GPU NVML sees, in index order (empty on a host without any)."""
    handles = (nvml.nvmlDeviceGetHandleByIndex(i) for i in range(gpu_count(nvml)))
    return tuple(_text(nvml.nvmlDeviceGetUUID(h)) for h in handles)


def driver(nvml: Any) -> str:
    """The NVIDIA driver version, e.g. "550.54.15"."""
    return _text(nvml.nvmlSystemGetDriverVersion())


def cuda_driver(nvml: Any) -> str:
    """The CUDA version the driver supports: NVML's 12040 is "12.4"."""
    version = int(nvml.nvmlSystemGetCudaDriverVersion())
    return f"{version // 1000}.{version % 1000 // 10}"


GPU_FACTS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("gpu_name", gpu_name),
    ("gpu_count", gpu_count),
    ("gpu_uuids", gpu_uuids),
    ("driver", driver),
    ("cuda_driver", cuda_driver),
)
