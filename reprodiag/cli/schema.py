"""`reprodiag schema`: print the published JSON Schema of the manifest."""

from __future__ import annotations

import json

import click


@click.command("schema")
def schema() -> None:
    """Print the JSON Schema of reprodiag.manifest/v1."""
    from reprodiag.manifest.schema import shipped_schema

    click.echo(json.dumps(shipped_schema(), indent=2, sort_keys=True))
