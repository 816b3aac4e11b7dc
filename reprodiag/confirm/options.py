"""How retrains run: the typed settings the confirmation layer hands to every retrain it plans."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reprodiag.noise.store import BandStore
from reprodiag.retrain.executor import Executor
from reprodiag.retrain.spec import RetrainResult

# {"entrypoint": "module:function"} or {"command": [argv template...]}: the trainer that replaces
# the manifest's code.entrypoint (None: use the manifest's own).
TrainerChoice = Mapping[str, str | Sequence[str]]


@dataclasses.dataclass(frozen=True)
class RetrainOptions:
    """Everything a retrain needs besides the pipeline it retrains.

    executor: runs the specs (serial, processes, Ray); workdir: each retrain's folder goes under
    it; max_retrains: the budget; trainer: another trainer than the manifest's entrypoint;
    device: auto, cpu or cuda:N; timeout_s: per retrain; store: the band store (None: no reuse);
    on_result: called as each retrain ends; ensemble: band seeds as vmapped ensembles when the
    trainer offers that form; max_minutes: the time budget (no round of retrains starts when
    the time elapsed plus its estimate would pass it; None: no limit); say: where the plan, its
    time estimate and one progress line per retrain go (None: nowhere; the CLI sends them to
    stderr unless --quiet), see reprodiag.confirm.progress.
    """

    executor: Executor
    workdir: Path
    max_retrains: int = 20
    trainer: TrainerChoice | None = None
    device: str = "auto"
    timeout_s: float | None = None
    store: BandStore | None = None
    on_result: Callable[[RetrainResult], None] | None = None
    ensemble: bool = True
    max_minutes: float | None = None
    say: Callable[[str], None] | None = None
    # The git repository the pipelines' recorded commits are checked out from (None: the one
    # holding the current folder); reprodiag.confirm.band.code_dir_for.
    repo: Path | None = None
    # Where the environment swap's rebuilt environments are cached (None: REPRODIAG_ENV_CACHE,
    # else ~/.cache/reprodiag/envs); reprodiag.retrain.envs.default_cache.
    env_cache: Path | None = None
