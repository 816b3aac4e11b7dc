"""Options shared by the commands that retrain (`compare --retrain`, `noise-band`)."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reprodiag.cli.storage import parse_storage_options, storage_option

if TYPE_CHECKING:
    from reprodiag.confirm import RetrainOptions, TrainerChoice

# Any: the decorator wraps click commands of any signature.
F = TypeVar("F", bound=Callable[..., Any])

EXECUTORS = ("serial", "processes", "ray")  # reprodiag.retrain.executor.EXECUTORS, without import

DEFAULT_BAND_STORE = "reports/band-store"


@dataclasses.dataclass(frozen=True)
class RetrainSettings:
    """The retrain options as parsed from the command line, one typed record."""

    trainer: str | None = None
    command: str | None = None
    device: str = "auto"
    retrain_timeout: float | None = None
    band_store: str = DEFAULT_BAND_STORE
    no_band_store: bool = False
    no_ensemble: bool = False
    workdir: str | None = None
    executor: str = "serial"
    workers: int | None = None
    address: str | None = None
    max_minutes: float | None = None
    quiet: bool = False
    trust_manifest_entrypoint: bool = False
    repo: str | None = None
    env_cache: str | None = None
    storage_options: tuple[str, ...] = ()  # KEY=VALUE pairs (reprodiag.cli.storage)


_FIELDS = tuple(f.name for f in dataclasses.fields(RetrainSettings))


def retrain_options(func: F) -> F:
    """Trainer, device, timeout, band store and executor options, in one place.

    The decorated command receives them as one `settings: RetrainSettings` argument.
    """

    command = func

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> Any:
        parsed = {name: kwargs.pop(name) for name in _FIELDS if name in kwargs}
        return command(*args, settings=RetrainSettings(**parsed), **kwargs)

    from reprodiag.cli.app import FiniteFloat  # refuses nan and inf

    decorated: Callable[..., Any] = with_settings
    options = (
        click.option(
            "--trainer",
            help="Trainer entrypoint module:function (default: the manifest's code.entrypoint).",
        ),
        click.option(
            "--trust-manifest-entrypoint",
            is_flag=True,
            help="Run the trainer the manifest names (code.entrypoint). Without it, a trainer "
            "that is not named by --trainer/--command nor allowed by [tool.reprodiag] "
            "trusted-entrypoints in pyproject.toml is not run: the plan is written, exit 6.",
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
            type=FiniteFloat(min=1),
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
            "ray://HOST:PORT; default: RAY_ADDRESS when set, else start a local Ray). Needs "
            "--executor ray.",
        ),
        click.option(
            "--max-minutes",
            type=FiniteFloat(min=0, min_open=True),
            default=None,
            help="Time budget: no retrain (or round of retrains) starts when the time elapsed "
            "plus its estimate would pass it; the report says the time budget ran out.",
        ),
        click.option(
            "--quiet",
            is_flag=True,
            help="No plan, estimate or per-retrain progress lines on stderr.",
        ),
        click.option(
            "--repo",
            type=click.Path(exists=True, file_okay=False),
            default=None,
            help="The git repository whose recorded commits the retrains check out (a cached "
            "worktree per commit and patch; default: the current folder's repository).",
        ),
        click.option(
            "--env-cache",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder of the environments the environment swap rebuilds with uv, one per lock "
            "(default: REPRODIAG_ENV_CACHE, else ~/.cache/reprodiag/envs).",
        ),
    )
    for option in reversed(options):
        decorated = option(decorated)
    decorated = storage_option(decorated)
    return decorated  # type: ignore[return-value]


def trainer_of(trainer: str | None, command: str | None) -> TrainerChoice | None:
    """The trainer a retrain uses instead of the manifest's entrypoint, if one was given."""
    if trainer and command:
        raise click.UsageError("give --trainer or --command, not both")
    if command:
        from reprodiag.retrain.template import parse_command

        return {"command": list(parse_command(command))}
    return {"entrypoint": trainer} if trainer else None


def needs_consent(settings: RetrainSettings, entrypoints: list[object]) -> list[str]:
    """The manifest entrypoints a retrain would run without the user's consent (see
    reprodiag.retrain.trust); empty when --trainer, --command or the flag was given."""
    if settings.trainer or settings.command or settings.trust_manifest_entrypoint:
        return []
    from reprodiag.retrain.trust import untrusted

    return untrusted(entrypoints)


def progress_printer(quiet: bool) -> Callable[[str], None] | None:
    """Where the plan, its estimate and the per-retrain lines go: stderr, terminal or not (a CI
    log shows them too), flushed line by line; nowhere with --quiet. stdout keeps the results."""
    if quiet:
        return None

    def say(line: str) -> None:
        click.echo(line, err=True)
        sys.stderr.flush()

    return say


def build_options(
    settings: RetrainSettings, *, default_workdir: Path, max_retrains: int
) -> RetrainOptions:
    """The library's RetrainOptions from the parsed settings: the executor made, the store opened.

    The retrains' folder is --workdir when given, else `default_workdir`.
    """
    from reprodiag.confirm import RetrainOptions
    from reprodiag.retrain.make import make_executor

    if settings.address is not None and settings.executor != "ray":
        raise click.UsageError("--address needs --executor ray")
    if settings.workers is not None and settings.executor == "serial":
        raise click.UsageError("--workers needs --executor processes or ray")
    env = {}
    joins = settings.address is not None or bool(os.environ.get("RAY_ADDRESS"))
    if settings.executor == "ray" and not joins and os.environ.get("PYTHONPATH"):
        # A Ray this process reuses may have started before PYTHONPATH was set; on a cluster
        # (--address or RAY_ADDRESS) this machine's paths mean nothing, so they are not sent.
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    # Object-store options reach the band store here and the workers through their environment
    # (REPRODIAG_STORAGE_OPTIONS), never a file.
    storage = parse_storage_options(settings.storage_options) or None
    store = None
    if not settings.no_band_store:
        from reprodiag.noise.store import BandStore

        # Tolerant: a corrupt store is set aside with a note, a read-only one is read but not
        # written; checked now, before any retrain (reprodiag.noise.store).
        store = BandStore(settings.band_store, storage, tolerant=True)
        store.preflight()
    workdir = Path(settings.workdir) if settings.workdir else default_workdir
    executor = make_executor(
        settings.executor,
        workdir,
        workers=settings.workers,
        address=settings.address,
        env=env,
        storage_options=storage,
    )
    context = click.get_current_context(silent=True)
    if context is not None:  # the warm workers end with the command, whatever way it ends
        context.call_on_close(executor.close)
    return RetrainOptions(
        executor=executor,
        workdir=workdir,
        max_retrains=max_retrains,
        trainer=trainer_of(settings.trainer, settings.command),
        device=settings.device,
        timeout_s=settings.retrain_timeout,
        store=store,
        ensemble=not settings.no_ensemble,
        max_minutes=settings.max_minutes,
        say=progress_printer(settings.quiet),
        repo=Path(settings.repo).absolute() if settings.repo else None,
        env_cache=Path(settings.env_cache).expanduser().absolute() if settings.env_cache else None,
    )


def run_warnings(options: RetrainOptions) -> list[str]:
    """What the retrains' machinery noted without failing a retrain, one line each: the band
    store's notes (rows it skipped) and each spec the Ray executor ran again because its actor
    was lost. `noise-band` and `compare --retrain` print them and `compare` keeps them in its
    report's warnings."""
    lines = list(options.store.notes) if options.store is not None else []
    lines += [retry.line for retry in getattr(options.executor, "retried", ())]
    return lines
