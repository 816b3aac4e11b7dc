"""`reprodiag log mlflow RUN_ID`: write a report folder and a manifest back onto an MLflow run."""

from __future__ import annotations

import click


@click.group("log")
def log_group() -> None:
    """Write reprodiag's records back onto a run of another tracker (MLflow)."""


@click.command("mlflow")
@click.argument("run_id")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, exists=True),
    help="A report folder written by compare or report: its files (checked against its "
    "report-set.json), the diagnosis and a verdict table are logged under reprodiag/.",
)
@click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(dir_okay=False, exists=True),
    help="A manifest to log as reprodiag/manifest.json.",
)
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else MLflow's default).",
)
def mlflow_log_command(
    run_id: str, report_dir: str | None, manifest_file: str | None, tracking_uri: str | None
) -> None:
    """Log a report folder and/or a manifest as artifacts (and tags) of the MLflow run RUN_ID,
    usually the candidate run the report diagnosed."""
    from reprodiag.integrations.mlflow_log import log_to_mlflow
    from reprodiag.manifest import load_manifest

    if report_dir is None and manifest_file is None:
        raise click.UsageError("give --report DIR, --manifest FILE or both")
    manifest = load_manifest(manifest_file) if manifest_file else None
    for path in log_to_mlflow(
        run_id, manifest=manifest, tracking_uri=tracking_uri, report_dir=report_dir
    ):
        click.echo(f"logged {path}")


log_group.add_command(mlflow_log_command)
