"""Options shared by the commands that retrain (`compare --retrain`, `noise-band`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

EXECUTORS = ("serial", "processes", "ray")  # reprodiag.retrain.executor.EXECUTORS, without import

DEFAULT_BAND_STORE = "reports/band-store"


def retrain_options(func: F) -> F:
    """Trainer, device, timeout, band store and executor options, in one place."""
    options = (
        click.option(
            "--trainer",
            help="Trainer entrypoint module:function (default: the manifest's code.entrypoint).",
        ),
        click.option(
            "--command",
            "command",
            help="Trainer command template instead, e.g. "
            '"python train.py --seed {seed} --data {snapshot_uri} --metrics '
            '{metrics_file}"; run without a shell.',
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            help="auto (CUDA when there is one), cpu or cuda:N.",
        ),
        click.option(
            "--retrain-timeout",
            type=click.FloatRange(min=1),
            default=None,
            help="Seconds before a retrain is stopped and counted as a failed seed.",
        ),
        click.option(
            "--band-store",
            default=DEFAULT_BAND_STORE,
            show_default=True,
            type=click.Path(file_okay=False),
            help="Delta table of per-seed results, reused and extended by later runs.",
        ),
        click.option("--no-band-store", is_flag=True, help="Neither reuse nor record seeds."),
        click.option(
            "--no-ensemble",
            is_flag=True,
            help="Train every band seed in its own "
            "worker, even when the trainer offers a vectorised ensemble form.",
        ),
        click.option(
            "--workdir",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder for the retrains' manifests and models (default: OUT/retrains).",
        ),
        click.option(
            "--executor",
            type=click.Choice(EXECUTORS),
            default="serial",
            show_default=True,
            help="How retrains run: one after another, in worker "
            "processes side by side (one per GPU or group of cores), or as Ray tasks.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="processes: retrains at once (default: one per GPU, else per core); "
            "each gets cores/workers threads, recorded in its manifest. ray: CPUs of "
            "the local Ray started.",
        ),
        click.option(
            "--address",
            default=None,
            help="Ray cluster to run on (auto, HOST:PORT or "
            "ray://HOST:PORT; default: start a local Ray). Needs --executor ray.",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def trainer_of(trainer: str | None, command: str | None) -> dict[str, Any] | None:
    if trainer and command:
        raise click.UsageError("give --trainer or --command, not both")
    if command:
        from reprodiag.retrain.command import parse_command

        return {"command": list(parse_command(command))}
    return {"entrypoint": trainer} if trainer else None


def progress_printer() -> Callable[[Any], None] | None:
    """One line per finished retrain on a terminal; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(result: Any) -> None:
        value = (
            f"{result.metric_value:.4f}"
            if result.metric_value is not None
            else f"failed: {result.reason}"
        )
        click.echo(
            f"  retrain {result.label:<32} seed {result.seed:<6} {result.seconds:6.1f} s  {value}",
            err=True,
        )

    return show


def build_options(
    *,
    workdir: Path,
    max_retrains: int,
    trainer: str | None,
    command: str | None,
    device: str,
    retrain_timeout: float | None,
    band_store: str,
    no_band_store: bool,
    executor: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    no_ensemble: bool = False,
) -> Any:
    from reprodiag.diagnosis.confirm import RetrainOptions
    from reprodiag.retrain.executor import make_executor

    if address is not None and executor != "ray":
        raise click.UsageError("--address needs --executor ray")
    if workers is not None and executor == "serial":
        raise click.UsageError("--workers needs --executor processes or ray")
    env = {}
    if executor == "ray" and address is None and os.environ.get("PYTHONPATH"):
        # A Ray this process reuses may have started before PYTHONPATH was set; on a cluster
        # (--address) this machine's paths mean nothing, so they are not sent.
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    store = None
    if not no_band_store:
        from reprodiag.noise.store import BandStore

        store = BandStore(band_store)
    return RetrainOptions(
        executor=make_executor(executor, workdir, workers=workers, address=address, env=env),
        workdir=workdir,
        max_retrains=max_retrains,
        trainer=trainer_of(trainer, command),
        device=device,
        timeout_s=retrain_timeout,
        store=store,
        on_result=progress_printer(),
        ensemble=not no_ensemble,
    )
