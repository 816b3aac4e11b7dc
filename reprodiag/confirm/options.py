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
    on_result: called as each retrain ends (progress lines); ensemble: band seeds as vmapped
    ensembles when the trainer offers that form.
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
