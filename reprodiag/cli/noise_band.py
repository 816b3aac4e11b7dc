"""`reprodiag noise-band`: the seed-noise band of a model family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reprodiag.cli.retrain_options import build_options, retrain_options


@click.command("noise-band")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option(
    "--seeds",
    "target",
    type=click.IntRange(3, 200),
    default=5,
    show_default=True,
    help="Seed retrains the band should hold (stored ones count).",
)
@click.option("--metric", help="Metric (default: the first, sorted, the manifest holds).")
@click.option("--against", type=float, help="A historical metric value to test against the band.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="reports/noise-band",
    show_default=True,
    help="Folder for the retrains' manifests and models.",
)
@retrain_options
def noise_band(
    manifest: str,
    target: int,
    metric: str | None,
    against: float | None,
    out: str,
    **retrain_args: Any,
) -> None:
    """Retrain MANIFEST's pipeline with new seeds until the band holds --seeds results.

    Results are kept per seed in the band store: a later run reuses and extends them, and a run
    that was killed resumes where it stopped.
    """
    from reprodiag.errors import InputError
    from reprodiag.manifest import load_manifest
    from reprodiag.noise import band_k, sigma_interval
    from reprodiag.noise.band import ok_values, run_seeds, stored_results
    from reprodiag.noise.stats import single_baseline

    run = load_manifest(manifest)
    name = metric or (sorted(run.results.metrics)[0] if run.results.metrics else None)
    if name is None:
        raise InputError(f"{manifest}: the manifest records no metric", hint="pass --metric NAME")
    workdir = Path(retrain_args.pop("workdir") or Path(out) / "retrains")
    options = build_options(workdir=workdir, max_retrains=target, **retrain_args)
    seen = stored_results(run, name, options)
    reused = len(ok_values(seen))
    seen += run_seeds(run, name, options, target - reused, seen)
    values = ok_values(seen)
    failed = [r for r in seen if r.status == "failed"]
    click.echo(f"{name}: {len(values)} seed(s) ({reused} reused from the band store)")
    for r in sorted(seen, key=lambda r: r.seed):
        click.echo(
            f"  seed {r.seed:<6} "
            + (
                f"{r.metric:.4f}"
                if r.status == "ok" and r.metric is not None
                else f"failed: {r.reason}"
            )
        )
    if len(values) < 3:
        raise InputError(
            f"only {len(values)} seed retrain(s) finished ({len(failed)} failed): "
            "a band needs at least 3",
            hint="see the failed seeds' reasons above",
        )
    _summary(values, name, band_k, sigma_interval)
    if against is not None:
        # One test at a fixed n, not a sequential look: the plain 5 % level applies here, the
        # Pocock boundary only when the band is grown look by look against the value.
        test = single_baseline(against, values, direction=_direction(run, name))  # type: ignore[arg-type]
        verdict = "beyond noise" if test.p < 0.05 else "consistent with noise"
        click.echo(
            f"against {against}: {verdict}: T = {test.t:.2f}, p = {test.p:.4g} "
            f"(two-sided, n = {test.n}); {test.rank_text}"
        )


def _summary(values: list[float], name: str, band_k: Any, sigma_interval: Any) -> None:
    import statistics

    n, mean, std = len(values), statistics.fmean(values), statistics.stdev(values)
    k = band_k(n)
    low, high = sigma_interval(std, n)
    click.echo(f"mean {mean:.4f}, std {std:.4f} (95 % CI for σ [{low:.4f}, {high:.4f}])")
    click.echo(
        f"95 % band for one more run: {mean:.4f} ± {k:.3f}·{std:.4f} = "
        f"[{mean - k * std:.4f}, {mean + k * std:.4f}] (k at n = {n})"
    )


def _direction(run: Any, name: str) -> str:
    metric = run.results.metrics.get(name)
    return metric.direction if metric is not None else "higher"
