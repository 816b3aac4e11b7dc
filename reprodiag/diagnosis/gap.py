"""The gap being diagnosed: which metric, how far apart, and which way is worse.

Conventions (documented in `reprodiag compare --help`):
- the metric defaults to the baseline's recorded primary metric (`results.primary_metric`, named
  at capture), else the candidate's, else the alphabetically first metric both manifests hold;
  when that choice was not the only possible one, a warning says which rule chose it;
- `worse_by` is positive when the candidate is worse, given the metric's direction
  (higher-is-better: candidate lower; lower-is-better: candidate higher);
- `--gap G` states "the candidate is worse by G" in the metric's units; it is used as given, and
  refused when both manifests hold the metric and say the opposite.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprodiag.diagnosis.model import Gap
from reprodiag.diagnosis.seeds import join_words
from reprodiag.errors import InputError
from reprodiag.manifest.model import Direction, Manifest, Metric


def measure_gap(
    baseline: Manifest,
    candidate: Manifest,
    *,
    metric: str | None,
    gap: float | None,
    baseline_file: str,
    candidate_file: str,
) -> tuple[Gap, list[str]]:
    """The Gap and any warnings about it; InputError when it cannot be stated honestly."""
    b_all, c_all = dict(baseline.results.metrics), dict(candidate.results.metrics)
    listing = f"{baseline_file} has {_names(b_all)}; {candidate_file} has {_names(c_all)}"
    choice = None if metric else default_metric(baseline, candidate, gap_given=gap is not None)
    name = metric or (choice.name if choice else None)
    if name is None:
        raise InputError(
            f"the manifests share no metric: {listing}",
            hint="pass --metric NAME (and --gap POINTS when only one side has it)",
        )
    b, c = b_all.get(name), c_all.get(name)
    if (b is None or c is None) and gap is None:
        missing = [f for f, m in ((baseline_file, b), (candidate_file, c)) if m is None]
        lacking = join_words(missing) + (" lack" if len(missing) > 1 else " lacks")
        why = f" ({choice.rule})" if choice else ""
        raise InputError(
            f"{lacking} the metric {name!r}{why}: {listing}",
            hint=f"choose a metric both have with --metric, or give the gap with "
            f"--gap POINTS (positive = the candidate is worse in {name})",
        )
    direction = _direction(name, b, c, baseline_file, candidate_file)
    chosen = [choice.warning] if choice and choice.warning else []
    if b is not None and c is not None:
        delta = c.value - b.value
        worse_by = -delta if direction == "higher" else delta
        if gap is None:
            return Gap(
                name, direction, b.value, c.value, delta, worse_by, "manifests"
            ), chosen + _better(worse_by, name)
        _check_sign(gap, worse_by, name, direction, b, c)
    if gap is None:  # unreachable: a side without the metric and no --gap raised above
        raise InputError(f"no gap to diagnose in {name}: {listing}")
    measured, warnings = _from_option(name, direction, b, c, gap)
    return measured, chosen + warnings


@dataclass(frozen=True)
class MetricChoice:
    """The metric a diagnosis uses when none is named, and the rule that chose it, in words."""

    name: str
    rule: str  # "the baseline's recorded primary metric", ...
    ambiguous: bool  # another rule or another metric could have given a different answer

    @property
    def warning(self) -> str | None:
        """What a report says about the choice; None when there was no other choice."""
        if not self.ambiguous:
            return None
        return (
            f"no metric named: the diagnosis compares {self.name}, {self.rule}; "
            "pass --metric NAME to compare another"
        )


def default_metric(
    baseline: Manifest, candidate: Manifest, *, gap_given: bool = False
) -> MetricChoice | None:
    """The metric two runs are compared on when none is named, or None when there is none.

    In order: the baseline's recorded primary metric, the candidate's, the alphabetically first
    metric both hold, and (only when the gap is given by hand) the first one either side holds.
    """
    b, c = dict(baseline.results.metrics), dict(candidate.results.metrics)
    b_primary, c_primary = baseline.results.primary_metric, candidate.results.primary_metric
    others = len(set(b) | set(c)) > 1
    if b_primary is not None:
        rule = "the baseline's recorded primary metric"
        if c_primary not in (None, b_primary):
            rule += f" (the candidate records {c_primary} as its primary metric)"
        return MetricChoice(b_primary, rule, others or c_primary not in (None, b_primary))
    if c_primary is not None:
        rule = "the candidate's recorded primary metric (the baseline records none)"
        return MetricChoice(c_primary, rule, others)
    shared = sorted(set(b) & set(c))
    if shared:
        rule = (
            f"the alphabetically first of the metrics both runs hold ({', '.join(shared)}); "
            "neither run records a primary metric"
        )
        return MetricChoice(shared[0], rule, others)
    if gap_given:  # the gap was given: name the metric after whichever side has one
        either = sorted(b) or sorted(c)
        if either:
            return MetricChoice(either[0], "the first metric one run holds", others)
        return MetricChoice("metric", "no run records a metric", False)
    return None


def default_metric_of(manifest: Manifest) -> MetricChoice | None:
    """The metric one run is judged on when none is named (noise-band, `--against`): its
    recorded primary metric, else the alphabetically first it holds; None when it holds none."""
    metrics = sorted(manifest.results.metrics)
    primary = manifest.results.primary_metric
    if primary is not None:
        return MetricChoice(primary, "the run's recorded primary metric", len(metrics) > 1)
    if metrics:
        rule = (
            f"the alphabetically first of its metrics ({', '.join(metrics)}); "
            "the run records no primary metric"
        )
        return MetricChoice(metrics[0], rule, len(metrics) > 1)
    return None


def metric_resolution(manifest: Manifest, metric: str) -> float | None:
    """The smallest step of `metric` recorded at capture (its resolution), or None when the
    run does not hold the metric or its resolution was not given."""
    recorded = manifest.results.metrics.get(metric)
    return recorded.resolution if recorded is not None else None


def _check_sign(
    gap: float, worse_by: float, name: str, direction: Direction, b: Metric, c: Metric
) -> None:
    if gap * worse_by >= 0:
        return
    raise InputError(
        f"--gap {gap:g} says the candidate is {'worse' if gap > 0 else 'better'} in {name}, but "
        f"the manifests say it is {'worse' if worse_by > 0 else 'better'}: baseline {b.value:g}, "
        f"candidate {c.value:g} ({direction} is better)",
        hint="--gap is how much worse the candidate is, in the metric's units: positive = worse; "
        "leave it out to use the manifests' values",
    )


def _from_option(
    name: str, direction: Direction, b: Metric | None, c: Metric | None, gap: float
) -> tuple[Gap, list[str]]:
    warnings = _better(gap, name)
    if b is not None and c is not None and abs(abs(c.value - b.value) - abs(gap)) > 1e-9:
        warnings.append(
            f"--gap {gap:g} differs from the manifests' {abs(c.value - b.value):g}; "
            "the diagnosis uses --gap"
        )
    delta = -gap if direction == "higher" else gap
    return Gap(
        name, direction, b.value if b else None, c.value if c else None, delta, gap, "option"
    ), warnings


def _names(metrics: dict[str, Metric]) -> str:
    return ", ".join(sorted(metrics)) if metrics else "no metrics"


def _direction(
    name: str, b: Metric | None, c: Metric | None, b_file: str, c_file: str
) -> Direction:
    if b is not None and c is not None and b.direction != c.direction:
        raise InputError(
            f"{name} is {b.direction}-is-better in {b_file} but {c.direction}-is-better in "
            f"{c_file}: the two runs do not measure it the same way",
            hint="fix the direction in one manifest, or compare on another metric with --metric",
        )
    known = b or c
    return known.direction if known is not None else "higher"


def _better(worse_by: float, name: str) -> list[str]:
    if worse_by < 0:
        return [
            f"the candidate is better than the baseline in {name} (by {-worse_by:g}): the "
            "diagnosis still lists what differs, but there is no regression to explain"
        ]
    if worse_by == 0:
        return [
            f"the candidate scores the same as the baseline in {name}: there is no gap to "
            "explain; the diagnosis lists what differs"
        ]
    return []
