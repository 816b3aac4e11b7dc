"""Facts about the ML frameworks a run uses besides torch: scikit-learn, XGBoost, LightGBM, JAX.

A framework is probed only when the run imported it (it is in ``sys.modules``): a framework that
is installed but unused changes no bit of the run, and importing one just to read its version
would cost seconds (JAX starts its backends). Each framework's facts are a flat mapping of JSON
values (`EnvironmentAxis.frameworks`); a value that cannot be read is recorded as
``{"skipped": reason, "kind": "failed"}``, so one failing read never sinks the others.

What is recorded, and why it changes bits:

- every framework: its version (a new release can change a default or a kernel);
- the thread pools the process loaded (threadpoolctl: OpenMP and BLAS, with their thread counts):
  reductions summed in another order give other bits, and LightGBM's and XGBoost's histogram
  sums depend on the thread count;
- scikit-learn: its global config (``sklearn.get_config()``: assume_finite, working_memory, ...);
- XGBoost: its global config (``xgboost.get_config()``) and build (CUDA, NCCL, OpenMP);
- JAX: jaxlib, the default backend, x64 mode, the default matmul precision, and XLA_FLAGS
  (``--xla_gpu_deterministic_ops=true`` is XLA's determinism switch).

The seeds an estimator used (``random_state``, ``seed``...) and its thread and determinism
parameters are read from the estimator itself by `estimator_facts` (``run.log_estimator``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING

from reprodiag.manifest.model import JSONValue, SkipKind, Skipped

if TYPE_CHECKING:
    from typing import TypeAlias

    Facts: TypeAlias = dict[str, JSONValue]

# module name -> distribution name: what `frameworks` is keyed by, as pip names them.
FRAMEWORKS: Mapping[str, str] = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "jax": "jax",
}
# Estimator parameters that seed a generator (scikit-learn, XGBoost and LightGBM spellings).
SEED_PARAMS = (
    "random_state",
    "seed",
    "random_seed",
    "bagging_seed",
    "feature_fraction_seed",
    "data_random_seed",
    "drop_seed",
    "extra_seed",
    "objective_seed",
)
# Estimator parameters that set threads or switch determinism on or off.
THREAD_PARAMS = ("n_jobs", "nthread", "num_threads", "n_threads")
DETERMINISM_PARAMS = ("deterministic", "force_row_wise", "force_col_wise", "tree_method")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def in_use(module: str) -> bool:
    """True when the run imported `module` (a module set to None in sys.modules is not)."""
    return sys.modules.get(module) is not None


def not_in_use(module: str, package: str) -> Skipped | None:
    """None when the run imported `module`; else why its facts do not apply (not_applicable):
    "<package> is not installed" or "the run did not import <package>"."""
    if in_use(module):
        return None
    if module in sys.modules:  # set to None: an import of it fails, as when it is absent
        return Skipped(f"{package} is not installed", "not_applicable")
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return Skipped(f"{package} is not installed", "not_applicable")
    return Skipped(f"the run did not import {package}", "not_applicable")


def skipped(reason: str, kind: SkipKind = "failed") -> dict[str, JSONValue]:
    """A skipped value inside a framework's mapping, as the manifest writes it."""
    return {"skipped": reason, "kind": kind}


def _read(facts: Facts, name: str, read: Callable[[], JSONValue]) -> None:
    try:
        facts[name] = read()
    except Exception as e:  # one failing read never sinks the others
        facts[name] = skipped(f"probe failed: {type(e).__name__}: {e}")


def _json_scalars(config: Mapping[str, object]) -> dict[str, JSONValue]:
    return {
        str(k): v
        for k, v in sorted(config.items())
        if v is None or isinstance(v, (bool, int, float, str))
    }


def thread_pools() -> dict[str, JSONValue]:
    """The OpenMP and BLAS pools loaded in this process, "<api> <library>" -> thread count, and
    the thread environment variables that are set."""
    from threadpoolctl import threadpool_info

    pools: dict[str, JSONValue] = {}
    for pool in threadpool_info():
        # two copies of a library (numpy's and scikit-learn's OpenMP) are told apart by file
        library = os.path.basename(str(pool.get("filepath", "")))
        name = f"{pool.get('user_api')} {pool.get('internal_api')} {pool.get('version') or ''}"
        pools[f"{name.strip()} ({library})"] = int(pool.get("num_threads", 0))
    pools.update({var: os.environ[var] for var in THREAD_ENV if var in os.environ})
    return pools


def _sklearn(facts: Facts) -> None:
    import sklearn

    _read(facts, "config", lambda: _json_scalars(sklearn.get_config()))


def _xgboost(facts: Facts) -> None:
    import xgboost

    _read(facts, "config", lambda: _json_scalars(xgboost.get_config()))
    build = ("USE_CUDA", "USE_NCCL", "USE_OPENMP")
    _read(facts, "build", lambda: {k: v for k, v in xgboost.build_info().items() if k in build})


def _lightgbm(facts: Facts) -> None:
    # LightGBM has no global configuration: its threads and determinism are estimator
    # parameters (num_threads, deterministic, force_row_wise), read by estimator_facts.
    return None


def _jax(facts: Facts) -> None:
    import jax

    _read(facts, "jaxlib", lambda: metadata.version("jaxlib"))
    _read(facts, "backend", lambda: str(jax.default_backend()))
    _read(facts, "enable_x64", lambda: bool(jax.config.jax_enable_x64))
    _read(
        facts,
        "default_matmul_precision",
        lambda: str(jax.config.jax_default_matmul_precision),
    )
    facts["xla_flags"] = os.environ.get("XLA_FLAGS", "")


_PROBES: Mapping[str, Callable[[Facts], None]] = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "jax": _jax,
}


def framework_facts(module: str) -> dict[str, JSONValue]:
    """The facts of one framework the run imported: version, thread pools, configuration."""
    package = FRAMEWORKS[module]
    facts: Facts = {}
    _read(facts, "version", lambda: metadata.version(package))
    _read(facts, "threads", thread_pools)
    try:
        _PROBES[module](facts)
    except Exception as e:
        facts["config"] = skipped(f"probe failed: {type(e).__name__}: {e}")
    return facts


def probe_frameworks() -> dict[str, dict[str, JSONValue]]:
    """Every framework of `FRAMEWORKS` the run imported, by distribution name, with its facts."""
    return {
        package: framework_facts(module) for module, package in FRAMEWORKS.items() if in_use(module)
    }


def framework_of(estimator: object) -> str | None:
    """The distribution an estimator's class comes from (scikit-learn, xgboost, lightgbm), or
    None for any other."""
    root = type(estimator).__module__.split(".")[0]
    return FRAMEWORKS.get(root)


def estimator_facts(estimator: object) -> tuple[dict[str, str], dict[str, JSONValue]]:
    """What an estimator with scikit-learn's ``get_params()`` says about randomness and threads:
    (its seed parameters as text, its thread and determinism parameters). A ``random_state``
    that is a generator rather than an int is recorded as its type: it cannot be replayed."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}, {}
    params = get_params(deep=True)
    seeds = {}
    for key, value in params.items():
        if key.rsplit("__", 1)[-1] in SEED_PARAMS:
            seeds[key] = _seed_text(value)
    options: dict[str, JSONValue] = {
        key: value
        for key, value in params.items()
        if key.rsplit("__", 1)[-1] in THREAD_PARAMS + DETERMINISM_PARAMS
        and (value is None or isinstance(value, (bool, int, float, str)))
    }
    return seeds, options


def _seed_text(value: object) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return str(value)
    return f"<{type(value).__name__}: not replayable>"
