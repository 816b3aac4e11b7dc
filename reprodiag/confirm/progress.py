"""Cost before it is spent: the plan with a time estimate, a time budget, one line per retrain.

The commands that retrain (`compare --retrain`, `noise-band`) say before their first retrain what
they plan to run and about how long it will take, and then print one line per finished retrain:
its label, seed, seconds and metric value, the time elapsed and an estimate of what is left.

The estimate is the pace measured in this run: wall time per finished retrain, which folds in
worker start-up, parallel workers and ensembles as they really ran. Before any retrain has
finished it is the median of the durations the band store recorded for the same pipeline, when
it holds any; else the pipeline's own recorded run (the manifest's `results.started_at` to
`finished_at`: a fair prior, since a retrain trains the same pipeline once more); else it is
unknown, and only a time budget makes the first retrain run alone to time the rest (without one
nothing needs timing: the retrains run in one round).

A time budget (`RetrainOptions.max_minutes`) is checked before each round of retrains: no round
starts when the time elapsed plus the round's estimate would pass it. A run stopped that way says
so, in the same place a spent retrain budget is reported.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import statistics
import time
from collections.abc import Callable, Sequence

from reprodiag.confirm.incident import FIRST_ROUND, Incident
from reprodiag.manifest.model import Manifest
from reprodiag.noise.counterfactual import count_words
from reprodiag.noise.sequential import LOOKS
from reprodiag.retrain.spec import RetrainResult

Say = Callable[[str], None]


def clock_words(seconds: float) -> str:
    """A duration as a person reads it: 42 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def budget_words(max_minutes: float) -> str:
    """The time budget as given: "0.05 min", "10 min"."""
    return f"{max_minutes:g} min"


def recorded_run_seconds(manifest: Manifest) -> float | None:
    """How long the pipeline's own run took, from its manifest (`results.started_at` to
    `finished_at`, recorded to the second); None when either is not recorded or they do not
    read as an interval (a failed or still running run, a clock that went backwards)."""
    results = manifest.results
    if results.status != "finished":
        return None
    started, finished = results.started_at, results.finished_at
    if not isinstance(started, str) or not isinstance(finished, str):
        return None

    def when(text: str) -> datetime.datetime:  # Python 3.10 does not read a trailing "Z"
        return datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] == "Z" else text)

    try:
        seconds = (when(finished) - when(started)).total_seconds()
    except (TypeError, ValueError):  # an unreadable time, or one naive and one aware
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def prior_from(manifest: Manifest) -> tuple[float | None, str]:
    """The per-retrain prior a Progress takes from the pipeline's manifest, and its source in
    words; a run recorded as under a second counts as one second (the timestamps' resolution)."""
    seconds = recorded_run_seconds(manifest)
    if seconds is None:
        return None, ""
    took = clock_words(seconds) if seconds >= 1 else "under 1 s (recorded to the second)"
    return max(seconds, 1.0), (
        f"this pipeline's own recorded run: {took}, from results.started_at to finished_at"
    )


@dataclasses.dataclass
class Progress:
    """One run's clock: elapsed time, retrains finished, the pace and what it predicts.

    `total`: the retrains this run may still start at most (compare: its retrain budget) or will
    start (noise-band: the seeds still missing); `exact` says which. `recorded`: per-retrain
    durations recorded earlier for this pipeline (the band store), used until a retrain of this
    run has finished. `prior`: seconds per retrain known otherwise (the pipeline's own recorded
    run, `prior_from`), used when nothing else is; `prior_source` says where it comes from.
    `say`: where lines go (None: nowhere; the CLI's --quiet).
    """

    total: int
    exact: bool = False
    max_minutes: float | None = None
    recorded: Sequence[float] = ()
    say: Say | None = None
    prior: float | None = None
    prior_source: str = ""
    clock: Callable[[], float] = time.monotonic
    started: float = dataclasses.field(init=False)
    finished: int = dataclasses.field(default=0, init=False)
    ran_out: str | None = dataclasses.field(default=None, init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.recorded = tuple(s for s in self.recorded if s is not None and math.isfinite(s))

    # ------------------------------------------------------------------ numbers

    def elapsed(self) -> float:
        """Seconds since this run began."""
        return self.clock() - self.started

    def per_retrain(self) -> float | None:
        """Seconds per retrain: this run's pace, else the recorded median, else the prior (the
        pipeline's own recorded run), else unknown."""
        if self.finished:
            return self.elapsed() / self.finished
        if self.recorded:
            return statistics.median(self.recorded)
        if self.prior is not None and math.isfinite(self.prior) and self.prior >= 0:
            return self.prior
        return None

    def source(self) -> str:
        """Where per_retrain() comes from, in words."""
        if self.finished:
            done = count_words(self.finished, "retrain")
            return f"the pace so far: {done} in {self.elapsed_words()}"
        if self.recorded:
            return (
                f"the median of {count_words(len(self.recorded), 'recorded duration')} of this "
                "pipeline in the band store"
            )
        if self.per_retrain() is not None:
            return self.prior_source or "a prior estimate"
        return "no duration recorded yet"

    def estimate(self, count: int) -> float | None:
        """Seconds `count` more retrains should take at the current pace (None: unknown)."""
        pace = self.per_retrain()
        return None if pace is None else pace * count

    def left(self) -> int:
        """Retrains this run may still start (at most, unless `exact`)."""
        return max(0, self.total - self.finished)

    def seconds_left(self) -> float | None:
        """Seconds of the time budget still unspent (None: no time budget)."""
        if self.max_minutes is None:
            return None
        return max(0.0, self.max_minutes * 60.0 - self.elapsed())

    def elapsed_words(self) -> str:
        """The elapsed time in words."""
        return clock_words(self.elapsed())

    def remaining_words(self) -> str:
        """What is left: how many retrains and about how long, capped by the time budget."""
        count = self.left()
        if count == 0:
            return "nothing left to run"
        bound = "" if self.exact else "at most "
        estimate = self.estimate(count)
        budget = self.seconds_left()
        if estimate is None:
            return f"{bound}{count_words(count, 'retrain')} left"
        if budget is not None and budget <= 0:
            return f"{bound}{count_words(count, 'retrain')} left; the time budget is spent"
        if budget is not None and budget < estimate:
            return (
                f"{bound}{count_words(count, 'retrain')} left, ~{clock_words(estimate)} at this "
                f"pace; the time budget stops it within {clock_words(budget)}"
            )
        return f"{bound}{count_words(count, 'retrain')} left, ~{clock_words(estimate)}"

    # ------------------------------------------------------------------ the time budget

    def fits(self, count: int) -> bool:
        """Whether a round of `count` retrains may start within the time budget.

        Without a budget every round fits; without an estimate (the very first retrain, nothing
        recorded) a round fits while the budget is not spent."""
        budget = self.seconds_left()
        if budget is None:
            return True
        estimate = self.estimate(count)
        if estimate is None:
            return budget > 0
        return estimate <= budget

    def how_many_fit(self, wanted: int) -> int:
        """The largest round of at most `wanted` retrains that fits the time budget."""
        if self.fits(wanted):
            return wanted
        pace = self.per_retrain()
        budget = self.seconds_left()
        if pace is None or budget is None or pace <= 0:
            return 0
        return max(0, min(wanted, int(budget // pace)))

    def out_of_time(self, what: str, count: int) -> str:
        """Why the next round does not start, in words; remembered in `ran_out`."""
        assert self.max_minutes is not None  # noqa: S101 - only asked when a budget is set
        estimate = self.estimate(count)
        about = f", about {clock_words(estimate)} at this pace" if estimate is not None else ""
        self.ran_out = (
            f"the time budget of {budget_words(self.max_minutes)} ran out: "
            f"{self.elapsed_words()} elapsed, and the next round ({what}{about}) would end past "
            "it; more time would settle what is still open"
        )
        return self.ran_out

    # ------------------------------------------------------------------ lines

    def tell(self, line: str) -> None:
        """One line to the progress output, if any."""
        if self.say is not None:
            self.say(line)

    def timed_note(self, first: str = "the smoke retrain") -> str:
        """The estimate for the rest of the run after its first retrain, in words."""
        pace = self.per_retrain()
        head = f"{first} took {self.elapsed_words()}"
        if pace is None or self.left() == 0:
            return head
        return f"{head}: {self.remaining_words()}"

    def plan_estimate(
        self, alone: bool = True, first: str = "the first retrain, which runs alone to time it"
    ) -> str:
        """The time part of a plan line: the estimate and where it comes from, and the budget.

        `alone`: without an estimate, the first round (`first`, in words) runs alone and times
        the rest (compare's smoke check; noise-band under a time budget); else the retrains run
        without one."""
        count = self.total
        estimate = self.estimate(count)
        bound = "" if self.exact else "at most "
        if estimate is None and alone:
            words = f"time: estimated after {first}"
        elif estimate is None:
            words = "time: not estimated (no duration recorded for this pipeline)"
        else:
            words = (
                f"time: {bound}~{clock_words(estimate)} "
                f"({clock_words(estimate / max(count, 1))} per retrain, {self.source()})"
            )
        if self.max_minutes is not None:
            words += f"; time budget {budget_words(self.max_minutes)}"
        return words

    def on_result(self, result: RetrainResult) -> None:
        """Count a finished retrain and print its line: label, seed, seconds, metric, time."""
        self.finished += 1
        value = (
            f"{result.metric_value:.4f}"
            if result.status == "ok" and result.metric_value is not None
            else f"failed: {result.reason}"
        )
        self.tell(
            f"  retrain {result.label:<32} seed {result.seed:<6} {result.seconds:6.1f} s  "
            f"{value}  [elapsed {self.elapsed_words()}; {self.remaining_words()}]"
        )

    def chain(
        self, other: Callable[[RetrainResult], None] | None
    ) -> Callable[[RetrainResult], None]:
        """An on_result that counts and prints the retrain, then hands it to `other`."""

        def both(result: RetrainResult) -> None:
            self.on_result(result)
            if other is not None:
                other(result)

        return both


def investigation_plan(incident: Incident, stored: int, progress: Progress) -> str:
    """The plan of `compare --retrain` before its first retrain: the arms, the budget, the time."""
    steps = []
    first = "the first retrain, which runs alone to time it"
    if stored >= FIRST_ROUND:  # the first look is in the store; see Evidence.smoke_arm
        steps.append(f"the candidate band's first look from the band store ({stored} stored)")
        steps.append(
            "the seed replay (1), which is also the smoke check"
            if incident.seed_replay
            else "the smoke check (1 more seed of the candidate band)"
        )
    elif incident.smoke_seeds > 1:
        first = "the smoke check's ensemble, which runs first to time the rest"
        steps.append(
            f"the smoke check: the candidate band to n = {FIRST_ROUND} as one ensemble "
            f"({incident.smoke_seeds} seeds" + (f", {stored} stored)" if stored else ")")
        )
    else:
        steps.append("the smoke check (1 retrain)")
        steps.append(
            f"the candidate band to n = {FIRST_ROUND}" + (f" ({stored} stored)" if stored else "")
        )
    if stored < FIRST_ROUND and incident.seed_replay:
        steps.append("the seed replay (1)")
    if incident.baseline_retrainable:
        steps.append(f"the baseline band ({FIRST_ROUND})")
    steps += [
        f"the {arm} swap, {axis} put back ({FIRST_ROUND})" for axis, arm in incident.swaps.items()
    ]
    looks = ", ".join(str(n) for n in LOOKS[1:])
    return (
        f"plan: {'; '.join(steps)}; then the open checks grow by looks (n = {looks}) while they "
        f"stay undecided; at most {count_words(incident.budget, 'retrain')} in all; "
        f"{progress.plan_estimate(first=first)}"
    )
