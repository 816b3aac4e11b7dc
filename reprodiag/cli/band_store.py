"""`reprodiag band-store verify PATH` and `reprodiag band-store repair PATH`."""

from __future__ import annotations

import click

from reprodiag.cli.storage import parse_storage_options, storage_option


@click.group("band-store")
def band_store() -> None:
    """Check or rebuild a band store (the Delta table of per-seed retrain results)."""


@band_store.command("verify")
@click.argument("path", type=click.Path(file_okay=True))
@storage_option
def verify(path: str, storage_options: tuple[str, ...]) -> None:
    """Check PATH's Delta log, data files and rows; exit 3 listing each problem found.

    PATH may be an object-store uri (s3://bucket/band-store): it is then checked through
    deltalake (it opens and every row reads as a seed result), with --storage-option.
    """
    from reprodiag.cli.app import printable
    from reprodiag.errors import InputError
    from reprodiag.noise.store import verify_store

    check = verify_store(path, parse_storage_options(storage_options) or None)
    if not check.problems:
        click.echo(f"band store {path}: ok ({check.commits} commits, {check.rows} rows)")
        return
    for problem in check.problems:
        click.echo(f"  {printable(problem)}")
    raise InputError(
        f"band store {path} is damaged: {len(check.problems)} problem(s), listed above",
        hint=f"`reprodiag band-store repair {path}` rebuilds it from what can still be read "
        "(the old folder is kept beside it)",
    )


@band_store.command("repair")
@click.argument("path", type=click.Path(file_okay=True))
@storage_option
def repair(path: str, storage_options: tuple[str, ...]) -> None:
    """Rebuild PATH from its readable data files; the old folder is kept as PATH.broken-TIME.

    A local folder only: copy an object-store band store down, repair it, copy it back.
    """
    parse_storage_options(storage_options)  # checked; repair reads no object store
    from reprodiag.cli.app import printable
    from reprodiag.noise.store import repair_store

    done = repair_store(path)
    if done.backup is None:
        click.echo(f"band store {path}: ok, nothing to repair ({done.rows} rows)")
        return
    for left in done.skipped_files:
        click.echo(f"  left out unreadable file {printable(left)}")
    for left in done.skipped_rows:
        click.echo(f"  left out {printable(left)}")
    click.echo(
        f"band store {path}: rebuilt with {done.rows} rows "
        f"({len(done.skipped_rows)} rows and {len(done.skipped_files)} files left out); "
        f"the old folder is {done.backup}"
    )
