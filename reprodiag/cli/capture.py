"""`reprodiag capture`: write a manifest from a shell pipeline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from reprodiag.cli.storage import parse_storage_options, storage_option

if TYPE_CHECKING:
    from reprodiag.probes.run import Run


@click.command("capture")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option(
    "--train", "train_uri", help="Training data: a Delta table, an Iceberg table or files."
)
@click.option(
    "--train-version", help="Pin the training snapshot to this version (default: current)."
)
@click.option("--train-as-of", help="Pin the training snapshot as of this ISO timestamp.")
@click.option("--eval", "eval_uri", help="Evaluation data, pinned the same way.")
@click.option("--eval-version", help="Pin the evaluation snapshot to this version.")
@click.option("--format", "data_format", help="Snapshot format when it cannot be detected.")
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False),
    help="Hyperparameters: JSON, or TOML (*.toml).",
)
@click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="One hyperparameter (JSON value or string).",
)
@click.option("--ablation", "ablation_pairs", multiple=True, metavar="NAME=true|false")
@click.option(
    "--seed",
    "seed_items",
    multiple=True,
    metavar="N | GENERATOR=N",
    help="A bare number seeds python, numpy, torch and cuda; torch=N names one.",
)
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="State whether deterministic algorithms were on (not visible from a shell).",
)
@click.option("--family", help="Model family name.")
@click.option("--experiment")
@click.option("--run-name")
@click.option("--hypothesis")
@click.option(
    "--tier",
    type=click.Choice(["shipped", "experimental", "debug"]),
    help="Refuse (exit 1, nothing written) when the run lacks a fact this tier requires.",
)
@click.option(
    "--policy", "policy_file", type=click.Path(dir_okay=False), help="A TOML tier policy."
)
@click.option("--tag", "tag_pairs", multiple=True, metavar="KEY=VALUE")
@click.option("--owner")
@click.option("--entrypoint", help="module:function or the training command.")
@click.option("--code-root", default=".", show_default=True, type=click.Path(file_okay=False))
@click.option("--metric", "metric_pairs", multiple=True, metavar="NAME=VALUE")
@click.option(
    "--lower-is-better",
    "lower",
    multiple=True,
    metavar="NAME",
    help="Metrics where lower is better (default: higher is better).",
)
@click.option(
    "--primary-metric",
    metavar="NAME",
    help="The metric the run is judged on (compare defaults to it); with one --metric, that one.",
)
@click.option(
    "--metric-resolution",
    "resolution_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A metric's smallest step in its units, e.g. accuracy=0.05 (percent, 2,000 rows).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="The run's output folder; --output-file paths inside it are named relative to it.",
)
@click.option(
    "--output-file",
    "output_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Record the sha256 and size of an output file (repeatable; streamed).",
)
@click.option(
    "--predictions-file",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Record the evaluation predictions' digest: of the array in a .npy file (as "
    "Run.log_outputs computes it), else of the file's bytes.",
)
@click.option(
    "--predictions-digest",
    metavar="SHA256",
    help="Record a predictions digest computed elsewhere (64 hex digits, sha256: optional).",
)
@click.option(
    "--weights-digest",
    metavar="SHA256",
    help="Record a weights digest computed elsewhere, e.g. by "
    "reprodiag.probes.outputs.weights_digest(model) in the training script.",
)
@click.option("--failed", is_flag=True, help="Record the run as failed.")
@storage_option
def capture(
    out: str,
    train_uri: str | None,
    train_version: str | None,
    train_as_of: str | None,
    eval_uri: str | None,
    eval_version: str | None,
    data_format: str | None,
    params_file: str | None,
    param_pairs: tuple[str, ...],
    ablation_pairs: tuple[str, ...],
    seed_items: tuple[str, ...],
    deterministic: bool | None,
    family: str | None,
    experiment: str | None,
    run_name: str | None,
    hypothesis: str | None,
    tier: str | None,
    policy_file: str | None,
    tag_pairs: tuple[str, ...],
    owner: str | None,
    entrypoint: str | None,
    code_root: str,
    metric_pairs: tuple[str, ...],
    lower: tuple[str, ...],
    primary_metric: str | None,
    resolution_pairs: tuple[str, ...],
    output_dir: str | None,
    output_files: tuple[str, ...],
    predictions_file: str | None,
    predictions_digest: str | None,
    weights_digest: str | None,
    failed: bool,
    storage_options: tuple[str, ...],
) -> None:
    """Record the five axes of a run into the manifest OUT.

    Run it before training with --tier to gate the run, and after training with --metric to
    record its results (--primary-metric, --metric-resolution) and the digests of its outputs
    (--weights-digest, --predictions-file, --output-file): equal digests are the bit-exact bar.
    Data given by path is pinned to its current version.
    """
    from reprodiag.cli import _shell_facts as shell
    from reprodiag.probes.run import capture as start_capture
    from reprodiag.snapshots import open_snapshot

    params = shell.read_params_file(params_file) if params_file else {}
    params.update(
        {k: shell.parse_value(v) for k, v in shell.parse_pairs(param_pairs, "--param").items()}
    )
    ablations = {
        k: v.strip().lower() in ("1", "true", "yes", "on")
        for k, v in shell.parse_pairs(ablation_pairs, "--ablation").items()
    }
    # Pinning reads only the table's log or metadata, never its rows; the options are not kept.
    storage = parse_storage_options(storage_options) or None
    train = (
        open_snapshot(
            train_uri,
            format=data_format,
            version=train_version,
            as_of=train_as_of,
            storage_options=storage,
        )
        if train_uri
        else None
    )
    evaluation = (
        open_snapshot(eval_uri, format=data_format, version=eval_version, storage_options=storage)
        if eval_uri
        else None
    )
    randomness = shell.shell_randomness(
        shell.seeds_from_options(seed_items), deterministic, os.environ.get("PYTHONHASHSEED")
    )
    policy = None
    if policy_file:
        from reprodiag.policy import load_policy

        policy = load_policy(policy_file)
    run = start_capture(
        out,
        train=train,
        eval=evaluation,
        seeds=randomness,
        params=params,
        family=family,
        experiment=experiment,
        run_name=run_name,
        hypothesis=hypothesis,
        ablations=ablations,
        tier=tier,
        tags=shell.parse_pairs(tag_pairs, "--tag"),
        owner=owner,
        entrypoint=entrypoint,
        code_root=code_root,
        policy=policy,
        captured_by="cli",
        output_dir=output_dir,
        primary_metric=primary_metric,
    )
    run.start()
    # Any: --metric values parsed as JSON, free-form until log_metrics checks each is a finite
    # number (metric_record refuses the rest with an InputError).
    metrics: dict[str, Any] = {
        name: shell.parse_value(value)
        for name, value in shell.parse_pairs(metric_pairs, "--metric").items()
    }
    resolutions: dict[str, Any] = {
        name: shell.parse_value(value)
        for name, value in shell.parse_pairs(resolution_pairs, "--metric-resolution").items()
    }
    run.log_metrics(
        metrics,
        {name: "lower" for name in lower},
        primary=primary_metric if metrics else None,
        resolution=resolutions,
    )
    _log_outputs(run, output_files, predictions_file, predictions_digest, weights_digest)
    manifest = run.finish(RuntimeError("recorded as failed by --failed") if failed else None)
    skipped = sum(1 for _ in _skipped(manifest))
    click.echo(f"wrote {out} ({skipped} skipped fact(s); see: reprodiag validate {out})")


def _log_outputs(
    run: Run,
    files: tuple[str, ...],
    predictions_file: str | None,
    predictions_digest: str | None,
    weights_digest: str | None,
) -> None:
    from reprodiag.errors import InputError
    from reprodiag.probes.outputs import predictions_file_digest

    if predictions_file and predictions_digest:
        raise InputError(
            "--predictions-file and --predictions-digest both give the predictions digest",
            hint="pass one of them",
        )
    predictions = predictions_file_digest(predictions_file) if predictions_file else None
    predictions = predictions or predictions_digest
    if files or predictions or weights_digest:
        run.log_outputs(weights=weights_digest, predictions=predictions, files=files)


def _skipped(manifest: object) -> list[str]:
    from reprodiag.manifest import Skipped, iter_facts

    return [path for path, value in iter_facts(manifest) if isinstance(value, Skipped)]  # type: ignore[arg-type]
