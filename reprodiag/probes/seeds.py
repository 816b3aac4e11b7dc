"""Seeding every generator from one base seed, and recording what was actually set.

`deterministic_seeds(1234)` seeds Python ``random``, NumPy, torch and CUDA, turns on torch's
deterministic mode, and returns a `Seeds` record read back from torch where torch can say. Keys
follow the generators by name, as torchtune's ``set_seed`` and Lightning's
``_collect_rng_states`` do.

Derivation rule: Python, torch and CUDA get the base seed itself; NumPy's legacy generator only
takes 32-bit seeds, so it gets ``base % 2**32`` (the same value goes into PYTHONHASHSEED, whose
range is also 32-bit). The base must be in [0, 2**64), the range torch.manual_seed accepts.

Global state this module changes: the four generators, torch's deterministic-algorithms and cuDNN
flags, and the environment variables CUBLAS_WORKSPACE_CONFIG and PYTHONHASHSEED (only when unset).
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from reprodiag.errors import InputError
from reprodiag.manifest.model import Fact, RandomnessAxis, Skipped
from reprodiag.probes.frameworks import not_in_use

TORCH_MISSING = "torch is not installed"
NOT_RECORDED = "seed not recorded: set it with reprodiag.deterministic_seeds"
NUMPY_SEED_RANGE = 2**32
TORCH_SEED_RANGE = 2**64

# Required for deterministic cuBLAS on CUDA >= 10.2 (":16:8" also works, with less workspace);
# https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility. It can cost throughput:
# one PyTorch user measured 2.6x slower training with it (shared/STATS.md, "How big seed noise is").
CUBLAS_DETERMINISTIC = ":4096:8"

# Env vars other libraries' seeders leave behind; recorded so a run seeded by them is still visible.
# Lightning seed_everything (lightning/fabric/utilities/seed.py): PL_GLOBAL_SEED, PL_SEED_WORKERS.
# transformers enable_full_determinism (src/transformers/trainer_utils.py): the other four.
# CUBLAS_WORKSPACE_CONFIG and PYTHONHASHSEED, which both also set, have fields of their own.
LIBRARY_SEEDING_ENV = (
    "PL_GLOBAL_SEED",
    "PL_SEED_WORKERS",
    "CUDA_LAUNCH_BLOCKING",
    "FLASH_ATTENTION_DETERMINISTIC",
    "ASCEND_LAUNCH_BLOCKING",
    "HCCL_DETERMINISTIC",
)


@dataclass(frozen=True)
class Seeds:
    """What `deterministic_seeds` set, each generator and flag by name."""

    python: int
    numpy: int
    torch: Fact[int]
    cuda: Fact[int]
    base: int
    derivation: str
    deterministic: Fact[bool]
    warn_only: Fact[bool]
    cudnn_deterministic: Fact[bool]
    cudnn_benchmark: Fact[bool]
    cublas_workspace_config: str | None
    pythonhashseed: str | None
    fill_uninitialized_memory: Fact[bool] | None
    # torch was installed but not imported: it is seeded when the run imports it (the torch
    # fields say what will be set), and the capture's end says whether it ever was (settle()).
    torch_on_import: bool = False

    def to_axis(self, dataloader_seeding: str | None = None) -> RandomnessAxis:
        """The randomness axis of a manifest; library_seeding is left to `probe_randomness`."""
        fill = self.fill_uninitialized_memory
        cublas = _env_fact("CUBLAS_WORKSPACE_CONFIG", self.cublas_workspace_config)
        return RandomnessAxis(
            python_seed=self.python,
            numpy_seed=self.numpy,
            torch_seed=self.torch,
            cuda_seed=self.cuda,
            derivation=self.derivation,
            deterministic_algorithms=self.deterministic,
            warn_only=self.warn_only,
            cudnn_deterministic=self.cudnn_deterministic,
            cudnn_benchmark=self.cudnn_benchmark,
            cublas_workspace_config=cublas,
            pythonhashseed=_env_fact("PYTHONHASHSEED", self.pythonhashseed),
            fill_uninitialized_memory=fill
            if fill is not None
            else Skipped("not read", "not_recorded"),
            dataloader_seeding=_dataloader_fact(dataloader_seeding, _no_torch(self.torch)),
        )


def settle(axis: RandomnessAxis, seeds: Seeds) -> RandomnessAxis:
    """The randomness axis at the end of a run whose torch seeding waited for its import: read
    back from torch when the run imported it (seeded then), else the torch facts and DataLoader
    seeding do not apply (the run trained without torch: a scikit-learn or XGBoost run in an
    environment that has torch is not a torch run)."""
    if not seeds.torch_on_import:
        return axis
    failed = _ON_IMPORT.get("error")
    if failed is not None:
        skip: Skipped = Skipped(f"seeding torch when it was imported failed: {failed}", "failed")
        return replace(axis, torch_seed=skip, cuda_seed=skip)
    unused = not_in_use("torch", "torch")
    if unused is None:  # imported during the run, and seeded by the hook
        flags = torch_flags()
        return replace(
            axis,
            derivation=f"{axis.derivation}; torch and CUDA seeded when the run imported torch",
            deterministic_algorithms=flags["deterministic"],
            warn_only=flags["warn_only"],
            cudnn_deterministic=flags["cudnn_deterministic"],
            cudnn_benchmark=flags["cudnn_benchmark"],
            fill_uninitialized_memory=flags["fill_uninitialized_memory"],
        )
    dataloader = axis.dataloader_seeding
    if isinstance(dataloader, Skipped):
        dataloader = Skipped(f"no DataLoader: {unused.reason}", "not_applicable")
    return replace(
        axis,
        derivation=f"{axis.derivation}; torch and CUDA not seeded: {unused.reason}",
        torch_seed=unused,
        cuda_seed=unused,
        deterministic_algorithms=unused,
        warn_only=unused,
        cudnn_deterministic=unused,
        cudnn_benchmark=unused,
        fill_uninitialized_memory=unused,
        dataloader_seeding=dataloader,
    )


def _no_torch(torch_seed: Fact[int]) -> Skipped | None:
    if isinstance(torch_seed, Skipped) and torch_seed.kind == "not_applicable":
        return torch_seed
    return None


def deterministic_seeds(seed: int, deterministic: bool = True, warn_only: bool = False) -> Seeds:
    """Seed random, NumPy, torch and CUDA from ``seed`` and set the determinism flags.

    deterministic=True: torch.use_deterministic_algorithms(True, warn_only) (as
    set_deterministic_algorithms does it: TORCHINDUCTOR_DETERMINISTIC is set to match when
    inductor is not imported yet), cudnn.deterministic on, cudnn.benchmark off,
    CUBLAS_WORKSPACE_CONFIG=":4096:8" and PYTHONHASHSEED when unset.
    deterministic=False: deterministic algorithms and cudnn.deterministic are switched off;
    cudnn.benchmark is left as the caller set it (it is a speed choice).

    PYTHONHASHSEED only reaches child processes (DataLoader workers started with spawn, retrains):
    the hash seed of the running interpreter is fixed when it starts and cannot change.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < TORCH_SEED_RANGE:
        raise InputError(f"seed {seed!r} is not an integer in [0, 2**64)", hint="pass e.g. 1234")
    import numpy as np

    numpy_seed = seed % NUMPY_SEED_RANGE
    if deterministic:  # before any CUDA work: cuBLAS reads it when its handle is created
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC)
        os.environ.setdefault("PYTHONHASHSEED", str(numpy_seed))
    random.seed(seed)
    np.random.seed(numpy_seed)  # the legacy global generator: the one user code draws from
    return Seeds(
        python=seed,
        numpy=numpy_seed,
        base=seed,
        derivation=f"all generators seeded with base {seed} by reprodiag.deterministic_seeds; "
        f"numpy with base % 2**32 = {numpy_seed}",
        cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        pythonhashseed=os.environ.get("PYTHONHASHSEED"),
        **_seed_torch(seed, deterministic, warn_only),
    )


# Any: the torch module and its flag values, imported lazily (torch is an optional extra).
def _seed_torch(seed: int, deterministic: bool, warn_only: bool) -> dict[str, Any]:
    torch = sys.modules.get("torch")
    if torch is None:
        unused = not_in_use("torch", "torch")
        if unused is not None and unused.reason != "the run did not import torch":
            # the run cannot use torch, so its seeds and flags do not apply (not installed)
            return dict.fromkeys(("torch", "cuda", *_FLAG_NAMES), unused)
        # Installed, not imported (yet): importing it here would make every scikit-learn run in
        # an environment with torch a torch run (and cost seconds). It is seeded when the run
        # imports it instead; settle() records at the run's end whether it ever did.
        seed_torch_on_import(seed, deterministic, warn_only)
        return {
            "torch": seed,
            "cuda": seed,
            "deterministic": deterministic,
            "warn_only": warn_only if deterministic else False,
            "cudnn_deterministic": deterministic,
            "cudnn_benchmark": False,
            "fill_uninitialized_memory": None,
            "torch_on_import": True,
        }
    _forget_on_import()  # torch is here: seeded now, and a pending hook is not needed
    _apply_torch_seed(torch, seed, deterministic, warn_only)
    # The CUDA seed cannot be read back without starting CUDA (torch.cuda.initial_seed does).
    return {"torch": int(torch.initial_seed()), "cuda": seed, **torch_flags()}


def _apply_torch_seed(torch: Any, seed: int, deterministic: bool, warn_only: bool) -> None:
    """Seed torch and CUDA and set the determinism flags: now (torch imported) or when the run
    imports it (_SeedingLoader)."""
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # lazy: applied when CUDA starts, safe on a CPU build
    if deterministic:
        set_deterministic_algorithms(torch, True, warn_only=warn_only)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        set_deterministic_algorithms(torch, False)
        torch.backends.cudnn.deterministic = False


# The latest deferred request (seed, deterministic, warn_only) and, once torch was imported and
# seeded, the error if seeding failed. One hook serves every call: the latest request wins.
_ON_IMPORT: dict[str, Any] = {}


def seed_torch_on_import(seed: int, deterministic: bool = True, warn_only: bool = False) -> None:
    """Seed torch (and set its determinism flags) as soon as anything imports it, as
    `deterministic_seeds` would have; the latest call wins. A finder placed first in
    sys.meta_path hands torch's import to its own finders, then seeds the fully imported module
    and removes itself."""
    _ON_IMPORT.clear()
    _ON_IMPORT["request"] = (seed, deterministic, warn_only)
    if not any(isinstance(f, _SeedTorchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _SeedTorchOnImport())


def _forget_on_import() -> None:
    _ON_IMPORT.pop("request", None)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SeedTorchOnImport)]


class _SeedTorchOnImport:
    """The finder of seed_torch_on_import: it only ever answers for "torch"."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch" or "request" not in _ON_IMPORT:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _SeedingLoader(spec.loader)
        return spec


class _SeedingLoader:
    """torch's own loader, then the seeding; everything else is the real loader's."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        request = _ON_IMPORT.get("request")
        _forget_on_import()
        if request is None:
            return
        try:
            _apply_torch_seed(module, *request)
        except Exception as exc:  # noqa: BLE001 - the import stands; the manifest says it failed
            _ON_IMPORT["error"] = f"{type(exc).__name__}: {exc}"


INDUCTOR_DETERMINISTIC_ENV = "TORCHINDUCTOR_DETERMINISTIC"


def set_deterministic_algorithms(torch: Any, mode: bool, warn_only: bool = False) -> None:
    """What ``torch.use_deterministic_algorithms(mode, warn_only=...)`` does, without its cost.

    torch's function sets two things: the ATen switch and ``torch._inductor.config.deterministic``,
    and it imports the inductor config to do so (about 3 s on a 2-core CPU, paid by every retrain
    worker and every in-process training). When inductor is not imported yet, the same outcome is
    reached by setting the ATen switch and the environment variable the inductor config reads
    when it is imported (``TORCHINDUCTOR_DETERMINISTIC``, "1" or "0" to match ``mode``). When
    inductor is already imported, or this torch lacks the private switch, torch's own function
    runs.
    """
    switch = getattr(getattr(torch, "_C", None), "_set_deterministic_algorithms", None)
    if "torch._inductor.config" in sys.modules or switch is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    os.environ[INDUCTOR_DETERMINISTIC_ENV] = "1" if mode else "0"
    switch(mode, warn_only=warn_only)


def torch_flags() -> dict[str, Fact[bool]]:
    """torch's determinism flags as they are now, each read on its own; not_applicable when the
    run has not imported torch (or it is not installed): they cannot change its bits."""
    skip = not_in_use("torch", "torch")
    if skip is not None:
        return dict.fromkeys(_FLAG_NAMES, skip)
    import torch

    return {name: _read(reader, torch) for name, reader in _FLAG_READERS}


def _read(reader: Callable[[Any], bool], torch: Any) -> Fact[bool]:
    try:
        return bool(reader(torch))
    except Exception as e:
        return Skipped(f"probe failed: {type(e).__name__}: {e}", "failed")


def _fill_uninitialized_memory(torch: Any) -> bool:
    # a submodule that `import torch` does not always load
    module = importlib.import_module(f"{torch.__name__}.utils.deterministic")
    return bool(module.fill_uninitialized_memory)


_FLAG_READERS: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("deterministic", lambda t: t.are_deterministic_algorithms_enabled()),
    ("warn_only", lambda t: t.is_deterministic_algorithms_warn_only_enabled()),
    ("cudnn_deterministic", lambda t: t.backends.cudnn.deterministic),
    ("cudnn_benchmark", lambda t: t.backends.cudnn.benchmark),
    ("fill_uninitialized_memory", _fill_uninitialized_memory),
)
_FLAG_NAMES = tuple(name for name, _ in _FLAG_READERS)


def probe_randomness(seeds: Seeds | None, dataloader_seeding: str | None = None) -> RandomnessAxis:
    """The randomness axis: from ``seeds`` when given, else flags read from torch and the env."""
    if seeds is not None:
        axis = seeds.to_axis(dataloader_seeding)
    else:
        flags = torch_flags()
        axis = RandomnessAxis(
            python_seed=Skipped(NOT_RECORDED, "not_recorded"),
            numpy_seed=Skipped(NOT_RECORDED, "not_recorded"),
            torch_seed=Skipped(NOT_RECORDED, "not_recorded"),
            cuda_seed=Skipped(NOT_RECORDED, "not_recorded"),
            derivation=Skipped(NOT_RECORDED, "not_recorded"),
            deterministic_algorithms=flags["deterministic"],
            warn_only=flags["warn_only"],
            cudnn_deterministic=flags["cudnn_deterministic"],
            cudnn_benchmark=flags["cudnn_benchmark"],
            cublas_workspace_config=_env_fact("CUBLAS_WORKSPACE_CONFIG"),
            pythonhashseed=_env_fact("PYTHONHASHSEED"),
            fill_uninitialized_memory=flags["fill_uninitialized_memory"],
            dataloader_seeding=_dataloader_fact(
                dataloader_seeding, no_torch=not_in_use("torch", "torch")
            ),
        )
    return replace(axis, library_seeding={**library_seeding(), **dict(axis.library_seeding)})


def library_seeding() -> dict[str, str]:
    """The `LIBRARY_SEEDING_ENV` variables that are set, with their values."""
    return {name: os.environ[name] for name in LIBRARY_SEEDING_ENV if name in os.environ}


def _env_fact(name: str, value: str | None = None) -> Fact[str]:
    value = os.environ.get(name) if value is None else value
    return value if value is not None else Skipped(f"{name} is not set", "not_given")


def _dataloader_fact(dataloader_seeding: str | None, no_torch: Skipped | None = None) -> Fact[str]:
    if dataloader_seeding:
        return dataloader_seeding
    if no_torch is not None:  # a run without torch has no DataLoader to seed
        return Skipped(f"no DataLoader: {no_torch.reason}", "not_applicable")
    return Skipped(
        "DataLoader seeding not given: pass worker_init_fn=reprodiag.seed_worker and "
        "generator=reprodiag.dataloader_generator(seeds) to the DataLoader, and "
        "dataloader_seeding=... to capture",
        "not_given",
    )


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed NumPy and ``random`` in each worker from torch's seed.

    torch already gives each worker the seed base_seed + worker_id; NumPy and ``random`` are copied
    from the parent (fork) or unseeded (spawn), so every worker would draw the same numbers. This is
    the recipe in https://pytorch.org/docs/stable/notes/randomness.html#dataloader.
    """
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % NUMPY_SEED_RANGE
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def dataloader_generator(seeds: Seeds) -> Any:
    """A ``torch.Generator`` seeded from ``seeds.torch``: pass it as the DataLoader's generator."""
    import torch

    if isinstance(seeds.torch, Skipped):
        raise InputError(f"torch was not seeded: {seeds.torch.reason}", hint="pip install torch")
    generator = torch.Generator()
    generator.manual_seed(seeds.torch)
    return generator
