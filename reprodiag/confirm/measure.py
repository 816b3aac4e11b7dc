"""`measure_band`: the seed-noise band of one pipeline, for `reprodiag noise-band` and notebooks.

Seeds already in the band store count; new seeds are retrained until the band holds `seeds`
results, in one round (one ensemble where the trainer has that form) unless a time budget splits
them; the plan and its time estimate are said first, and a time budget stops it early (the
report says so). An optional historical value is tested against the finished band once, at the
plain 5 % level: the Pocock boundary (STATS.md) applies only when a band is grown look by look
against the value, as `compare --retrain` does.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import Literal

from reprodiag.confirm.band import ok_values, run_seeds, stored_results
from reprodiag.confirm.options import RetrainOptions
from reprodiag.confirm.progress import Progress, prior_from
from reprodiag.diagnosis.gap import MetricChoice, default_metric_of
from reprodiag.errors import InputError
from reprodiag.manifest.model import Manifest
from reprodiag.noise.counterfactual import count_words
from reprodiag.noise.stats import band_k, sigma_interval, single_baseline
from reprodiag.retrain.seed_result import SeedResult

AGAINST_ALPHA = 0.05


@dataclass(frozen=True)
class BandSummary:
    """Mean, std and the 95 % band for one more run, from n ≥ 3 finished seeds."""

    n: int
    mean: float
    std: float
    sigma_low: float  # 95 % CI for σ
    sigma_high: float
    k: float  # band half-width in stds at this n
    low: float
    high: float


@dataclass(frozen=True)
class AgainstTest:
    """One historical value tested against the finished band (prediction interval, 5 %)."""

    value: float
    verdict: Literal["beyond noise", "consistent with noise"]
    t: float
    p: float
    n: int
    rank_text: str


@dataclass(frozen=True)
class BandReport:
    """What `measure_band` measured: every seed (ok or failed), and the band when n ≥ 3."""

    metric: str
    seeds: tuple[SeedResult, ...]
    reused: int  # finished seeds taken from the band store
    summary: BandSummary | None  # None when fewer than 3 seeds finished
    against: AgainstTest | None = None
    stopped: str | None = None  # why fewer seeds than asked were retrained (the time budget)

    @property
    def failed(self) -> tuple[SeedResult, ...]:
        """The seeds whose retrain failed, with their reasons."""
        return tuple(r for r in self.seeds if r.status == "failed")


def default_metric(manifest: Manifest, source: str) -> MetricChoice:
    """The metric a band measures when none is named: the run's recorded primary metric, else
    the alphabetically first it holds (the choice says which rule, for a warning)."""
    choice = default_metric_of(manifest)
    if choice is None:
        raise InputError(f"{source}: the manifest records no metric", hint="pass --metric NAME")
    return choice


def measure_band(
    manifest: Manifest,
    options: RetrainOptions,
    *,
    seeds: int,
    metric: str,
    against: float | None = None,
) -> BandReport:
    """Retrain `manifest`'s pipeline with new seeds until the band holds `seeds` results."""
    seen = stored_results(manifest, metric, options)
    reused = len(ok_values(seen))
    seen, stopped = _retrain(manifest, metric, options, seeds - reused, seen)
    values = ok_values(seen)
    ordered = tuple(sorted(seen, key=lambda r: r.seed))
    if len(values) < 3:
        return BandReport(metric, ordered, reused, None, stopped=stopped)
    summary = _summary(values)
    test = None
    if against is not None:
        metric_record = manifest.results.metrics.get(metric)
        direction = metric_record.direction if metric_record is not None else "higher"
        one = single_baseline(against, values, direction=direction)
        test = AgainstTest(
            value=against,
            verdict="beyond noise" if one.p < AGAINST_ALPHA else "consistent with noise",
            t=one.t,
            p=one.p,
            n=one.n,
            rank_text=one.rank_text,
        )
    return BandReport(metric, ordered, reused, summary, test, stopped)


def _retrain(
    manifest: Manifest, metric: str, options: RetrainOptions, count: int, seen: list[SeedResult]
) -> tuple[list[SeedResult], str | None]:
    """Run `count` new seeds after the plan line; within the time budget, if there is one.

    Without a time budget nothing needs timing: all `count` seeds go in one round (one ensemble
    where the trainer has an ensemble form). A time budget runs them in rounds that fit it,
    estimated from the band store's recorded durations of this pipeline, else from the
    pipeline's own recorded run; with neither, the first seed runs alone to time the rest.
    Returns every seed and why it stopped short (None: it did not)."""
    if count <= 0:
        return seen, None
    prior, prior_source = prior_from(manifest)
    progress = Progress(
        total=count,
        exact=True,
        max_minutes=options.max_minutes,
        recorded=[r.seconds for r in seen if r.seconds is not None],
        say=options.say,
        prior=prior,
        prior_source=prior_source,
    )
    options = dataclasses.replace(options, on_result=progress.chain(options.on_result))
    alone = options.max_minutes is not None and progress.per_retrain() is None
    progress.tell(
        f"plan: {count_words(count, 'seed retrain')} of this pipeline"
        + (f" ({len(ok_values(seen))} reused from the band store)" if seen else "")
        + f"; {progress.plan_estimate(alone=alone)}"
    )
    seen, start = list(seen), len(seen)
    if alone:  # a time budget and nothing to estimate from: time the first seed alone
        seen += run_seeds(manifest, metric, options, 1, seen)
        progress.tell(progress.timed_note("the first seed retrain"))
    while (left := count - (len(seen) - start)) > 0:
        fit = progress.how_many_fit(left)
        if fit == 0:
            return seen, progress.out_of_time(count_words(left, "seed retrain"), left)
        new = run_seeds(manifest, metric, options, fit, seen)
        if not new:  # no seed left in the store's sequence
            break
        seen += new
    return seen, None


def _summary(values: list[float]) -> BandSummary:
    n, mean, std = len(values), statistics.fmean(values), statistics.stdev(values)
    k = band_k(n)
    low, high = sigma_interval(std, n)
    return BandSummary(n, mean, std, low, high, k, mean - k * std, mean + k * std)
