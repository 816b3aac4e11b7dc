"""`reprodiag validate`: check manifests against the schema."""

from __future__ import annotations

import click


@click.command("validate")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(manifests: tuple[str, ...]) -> None:
    """Validate MANIFESTS against the manifest schema; list the skipped facts of each."""
    from reprodiag.manifest import Skipped, iter_facts, load_manifest

    for path in manifests:
        manifest = load_manifest(path)
        skipped = [(p, v.reason) for p, v in iter_facts(manifest) if isinstance(v, Skipped)]
        click.echo(f"{path}: valid {manifest.schema}; {len(skipped)} skipped fact(s)")
        for fact_path, reason in skipped:
            click.echo(f"  skipped {fact_path}: {reason}")
