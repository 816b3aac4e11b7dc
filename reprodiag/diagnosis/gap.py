"""The gap being diagnosed: which metric, how far apart, and which way is worse.

Conventions (documented in `reprodiag compare --help`):
- the metric defaults to one both manifests hold; with several, the alphabetically first;
- `worse_by` is positive when the candidate is worse, given the metric's direction
  (higher-is-better: candidate lower; lower-is-better: candidate higher);
- `--gap G` states "the candidate is worse by G" in the metric's units; it is used as given, and
  refused when both manifests hold the metric and say the opposite.
"""

from __future__ import annotations

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
    name = metric or _default_metric(b_all, c_all, gap)
    if name is None:
        raise InputError(
            f"the manifests share no metric: {listing}",
            hint="pass --metric NAME (and --gap POINTS when only one side has it)",
        )
    b, c = b_all.get(name), c_all.get(name)
    if (b is None or c is None) and gap is None:
        missing = [f for f, m in ((baseline_file, b), (candidate_file, c)) if m is None]
        lacking = join_words(missing) + (" lack" if len(missing) > 1 else " lacks")
        raise InputError(
            f"{lacking} the metric {name!r}: {listing}",
            hint=f"choose a metric both have with --metric, or give the gap with "
            f"--gap POINTS (positive = the candidate is worse in {name})",
        )
    direction = _direction(name, b, c, baseline_file, candidate_file)
    if b is not None and c is not None:
        delta = c.value - b.value
        worse_by = -delta if direction == "higher" else delta
        if gap is None:
            return Gap(name, direction, b.value, c.value, delta, worse_by, "manifests"), _better(
                worse_by, name
            )
        _check_sign(gap, worse_by, name, direction, b, c)
    if gap is None:  # unreachable: a side without the metric and no --gap raised above
        raise InputError(f"no gap to diagnose in {name}: {listing}")
    return _from_option(name, direction, b, c, gap)


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


def _default_metric(b: dict[str, Metric], c: dict[str, Metric], gap: float | None) -> str | None:
    shared = sorted(set(b) & set(c))
    if shared:
        return shared[0]
    if gap is not None:  # the gap was given: name the metric after whichever side has one
        either = sorted(b) or sorted(c)
        return either[0] if either else "metric"
    return None


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
