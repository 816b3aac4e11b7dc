"""Vectorised seed ensembles: K independent seed replicas trained at once with torch.func.

Opt-in rule. A trainer `module:function` offers an ensemble form when either
  1. the function has an attribute `ensemble` (``train.ensemble = train_ensemble``), or
  2. its module has a function named `<function>_ensemble` (``m:train`` -> ``m:train_ensemble``).
The ensemble form is ``train_ensemble(ctx, seeds: Sequence[int]) -> list[Mapping[str, float]]``:
one metrics mapping per seed, in the order of `seeds`. ``ctx.seed`` is ``seeds[0]``; seed s writes
its files under ``seed_output_dir(ctx, s)``. Each replica must be the solo trainer's model built
under its own seed (``stack_seeded``), with its own data order (``seed_orders``), its own clipping
(``per_model_clip_``) and, for dropout, independent masks (``vmapped_forward`` uses
randomness="different"). Then the K replicas are K independent models: valid noise-band seeds.

What is never offered: shared-weight "fast ensembles" (one trunk, K heads, or snapshot ensembles)
cut the seed std from 0.26 % to 0.15-0.17 % on CIFAR-10 (STATS.md, Summers & Dinneen 2021): a band
from them would be too narrow and call ordinary seed noise "beyond noise".

The ensemble is statistically equivalent to K solo runs, not bit-identical: the initial weights
and data orders match exactly, but batched kernels round differently and 1e-8 gradient differences
grow over training. That is why a seed REPLAY always takes the solo path (a spec with one seed).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from reprodiag.manifest.model import JSONValue

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    from reprodiag.retrain.interface import TrainContext

ENSEMBLE_SUFFIX = "_ensemble"
ENSEMBLE_ATTRIBUTE = "ensemble"


class EnsembleTrainer(Protocol):
    """A trainer's ensemble form: trains one model per seed in one process and returns each
    seed's metrics, in seed order."""

    def __call__(self, ctx: TrainContext, seeds: Sequence[int]) -> Sequence[Mapping[str, float]]:
        """Train one model per seed on ctx's data; the metrics of each, in the order of `seeds`."""
        ...


def find_ensemble(entrypoint: str) -> EnsembleTrainer | None:
    """The ensemble form of `module:function` by the opt-in rule above, or None.

    Never raises: a trainer that cannot be imported here simply has no ensemble form, and the
    solo path reports the import error in its own words.
    """
    module_name, _, attr = entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - any import failure means "no ensemble form here"
        return None
    trainer = getattr(module, attr, None)
    form = getattr(trainer, ENSEMBLE_ATTRIBUTE, None) or getattr(
        module, attr + ENSEMBLE_SUFFIX, None
    )
    return form if callable(form) else None


def has_ensemble_form(trainer: Mapping[str, JSONValue] | None) -> bool:
    """Whether a spec's trainer ({"entrypoint": ...}) offers an ensemble form; commands do not.

    Called in reprodiag's own process, so it never imports the trainer (a manifest may name any
    module: reprodiag.retrain.trust): it finds the module's source on the path a worker imports
    from (the current folder, then sys.path) without running it, and reads the opt-in rule from
    its syntax tree: a top-level ``def <function>_ensemble`` or ``<function>.ensemble = ...``.
    A module it cannot read that way (compiled, generated) counts as "no ensemble form": its seeds
    then train solo, which is slower but measures the same band. When the worker imports the
    module and finds no form after all, it trains the seeds solo one by one (worker._run_ensemble).
    """
    entrypoint = (trainer or {}).get("entrypoint")
    if not isinstance(entrypoint, str):
        return False
    module_name, _, attr = entrypoint.partition(":")
    source = module_source(module_name)
    return source is not None and _declares_ensemble(source, attr)


def module_source(module_name: str) -> str | None:
    """The Python source of `module_name`, found like an import would but without importing it
    or any parent package (importlib's find_spec imports the parents); None when not found."""
    import sys
    from importlib.machinery import PathFinder, SourceFileLoader

    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    search: list[str] | None = [str(Path.cwd()), *sys.path]
    spec = None
    for index in range(len(parts)):
        name = ".".join(parts[: index + 1])
        spec = PathFinder.find_spec(name, search)
        if spec is None and index == 0:  # an editable install's finder (pip install -e .)
            spec = _meta_path_spec(name)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
        return None
    try:
        return Path(spec.origin).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _meta_path_spec(name: str) -> ModuleSpec | None:
    """The spec of top-level module `name` from the import system's other finders, as an import
    would ask them after the path (setuptools' editable installs add such a finder: a package
    installed with `pip install -e .` is on no sys.path entry). Asking a finder for a top-level
    name runs no module; a finder that fails counts as not finding it."""
    import sys
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if finder is PathFinder or find_spec is None:
            continue
        try:
            spec = find_spec(name, None)
        except Exception:  # noqa: BLE001, S112 - a finder's error: not found, as import goes on
            continue
        if spec is not None:
            return cast("ModuleSpec", spec)
    return None


def _declares_ensemble(source: str, attr: str) -> bool:
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == attr + ENSEMBLE_SUFFIX:
                return True
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == ENSEMBLE_ATTRIBUTE
                    and isinstance(target.value, ast.Name)
                    and target.value.id == attr
                ):
                    return True
    return False


class _HasOutputDir(Protocol):
    """A train context of either kind (retrain.interface or family.core): its output folder."""

    @property
    def output_dir(self) -> Path: ...


def seed_output_dir(ctx: _HasOutputDir, seed: int) -> Path:
    """Where seed `seed` of an ensemble writes its files (the worker records it per seed)."""
    return Path(ctx.output_dir) / f"seed-{seed}"


# Below, Any is a torch object (module, tensor, generator): torch is imported lazily, inside the
# functions, so its types cannot be named here.
def stack_seeded(
    build_model: Callable[[], Any], seeds: Sequence[int]
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """K models, each built right after ``torch.manual_seed(seed)``, stacked along dim 0.

    Returns (params, buffers, base): stacked leaves that require grad, stacked buffers, and a
    skeleton on the meta device for ``functional_call``. Building each model under its own seed,
    exactly as the solo trainer does after seeding, makes replica k's initial weights equal to the
    solo run's bit for bit (tests/test_ensemble.py checks it).
    """
    import copy

    import torch
    from torch.func import stack_module_state

    models = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        models.append(build_model())
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    return params, buffers, base


def seed_generators(seeds: Sequence[int]) -> list[Any]:
    """One data-order generator per replica, seeded like the solo trainer's."""
    import torch

    return [torch.Generator().manual_seed(int(seed)) for seed in seeds]


def seed_orders(generators: Sequence[Any], n_rows: int, device: Any = "cpu") -> Any:
    """This epoch's row order of every replica, [K, n_rows]: each model its own shuffle."""
    import torch

    return torch.stack([torch.randperm(n_rows, generator=g) for g in generators]).to(device)


def vmapped_forward(
    base: Any,
    params: Mapping[str, Any],
    buffers: Mapping[str, Any],
    x: Any,
    *,
    shared_input: bool = False,
) -> Any:
    """Every replica's forward pass: x is [K, B, ...] (per-model batches) or [B, ...] if shared.

    randomness="different": each replica draws its own dropout masks, as independent runs would;
    "same" would correlate the replicas and narrow the band.
    """
    from torch.func import functional_call, vmap

    def one(p: dict[str, Any], b: dict[str, Any], xb: Any) -> Any:
        return functional_call(base, (p, b), (xb,))

    return vmap(one, in_dims=(0, 0, None if shared_input else 0), randomness="different")(
        dict(params), dict(buffers), x
    )


def per_model_clip_(grads: Sequence[Any], max_norm: float) -> Any:
    """Clip each replica's gradient to `max_norm` in place; returns the K pre-clip norms.

    The norm of replica k runs over slice k of every stacked leaf (dim 0), never across models:
    ``clip_grad_norm_`` on the stacked leaves would scale all K models by one shared norm, which
    couples them. A NaN gradient in one replica stays in that replica.
    """
    import torch

    grads = [g for g in grads if g is not None]
    if not grads:
        return torch.zeros(0)
    squares = torch.stack([g.detach().reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads])
    norms = squares.sum(dim=0).sqrt()
    scale = (float(max_norm) / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))).to(g.dtype))
    return norms


def unstack(params: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Replica `index`'s own state dict (detached copies), e.g. to save it as the solo run would."""
    return {name: value[index].detach().clone() for name, value in params.items()}
