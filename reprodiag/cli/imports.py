"""`reprodiag import mlflow RUN_ID`: a manifest from a run another tracker recorded."""

from __future__ import annotations

import click


@click.group("import")
def import_group() -> None:
    """Build a manifest from a run recorded by another tracker (MLflow).

    Facts the tracker did not record are written as skipped, with the reason, so
    `reprodiag check` and `reprodiag compare` see them as missing, never as equal.
    """


@click.command("mlflow")
@click.argument("run_id")
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else MLflow's default).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Manifest file to write (default: RUN_ID.json)."
)
@click.option(
    "--metric-direction",
    "directions",
    multiple=True,
    metavar="NAME=lower|higher",
    help="Whether a smaller or larger metric is better. Default: lower for names "
    "with the word loss, log_loss, rmse, mae, mse or error; higher otherwise.",
)
@click.option(
    "--tier",
    help="The run's tier (default: the run's reprodiag.tier tag); "
    "gate it afterwards with `reprodiag check`.",
)
def mlflow_command(
    run_id: str,
    tracking_uri: str | None,
    out: str | None,
    directions: tuple[str, ...],
    tier: str | None,
) -> None:
    """Write the manifest of the MLflow run RUN_ID."""
    from reprodiag.cli._shell_facts import parse_pairs
    from reprodiag.integrations.mlflow_import import import_mlflow_run
    from reprodiag.manifest import Skipped, iter_facts, write_manifest
    from reprodiag.manifest.model import DIRECTIONS, Direction

    overrides: dict[str, Direction] = {}
    for name, value in parse_pairs(directions, "--metric-direction").items():
        if value not in DIRECTIONS:
            raise click.BadParameter(
                f"{name}={value}: give NAME=lower or NAME=higher", param_hint="--metric-direction"
            )
        overrides[name] = "lower" if value == "lower" else "higher"
    result = import_mlflow_run(
        run_id, tracking_uri=tracking_uri, metric_directions=overrides, tier=tier
    )
    path = write_manifest(result.manifest, out or f"{run_id}.json")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    skipped = sum(1 for _, v in iter_facts(result.manifest) if isinstance(v, Skipped))
    click.echo(
        f"read MLflow run {run_id} from {result.tracking_uri} "
        f"(tracking URI from {result.tracking_uri_source})"
    )
    click.echo(f"wrote {path} ({skipped} skipped fact(s); see: reprodiag check {path})")


import_group.add_command(mlflow_command)
