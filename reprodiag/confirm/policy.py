"""Which retrain to ask for next, and what the retrains showed: the statistics of issue 12.

Pure policy: numbers in (the incident, then each batch's metric values, None for a failed
retrain), typed records with numbers and words out. No executor, no manifest, no I/O; the
confirmation layer asks `next_batch()`, runs those retrains and hands the values to `record()`.

The plan, step by step:
1. a zero or tiny gap (|gap| ≤ the metric's resolution) stops at once: "reproduces", no retrain;
   stored band seeds that already decide a terminal conclusion stop at once too;
2. one candidate-band seed: the smoke check. If it fails, stop: "trainer failed". When the
   trainer trains seeds as one ensemble, the smoke check is the band's first look in one
   ensemble (about the cost of one fit; it fails when all its seeds fail). When the band store
   already holds that first look and a seed replay is planned, the seed replay is the smoke
   check instead (a band seed would add nothing that look needs);
3. the candidate band to its first look (n = 3), then the seed replay once when it is possible;
4. the baseline band's first round (when the baseline pipeline can be retrained and differs),
   then each swap arm's first round (3 seeds), in the incident's order;
5. then the open check whose interval reaches highest into the gap (the one that could most
   change the ranking) grows to its next look (3, 5, 8, 12, 20), on whichever of its two arms
   (its own or the candidate band) has fewer seeds; every request says why, in words.
It stops when the conclusion cannot change (reproduces, trainer failed, lucky baseline, within
noise), when every check is decided, or when the next round does not fit in the budget.

Decisions are frozen when first reached (sequential tests: a check decided at a look stays
decided) and rounds are never cut short to fit the budget, so a run with a smaller budget is a
prefix of a run with a larger one: it ends with more "can't tell yet", never another verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from reprodiag.confirm import attribution, conclusion
from reprodiag.confirm.evidence import Evidence
from reprodiag.confirm.incident import (
    BASELINE_BAND,
    CANDIDATE_BAND,
    FAILS_IN_A_ROW,
    FIRST_LOOK_WHY,
    FIRST_ROUND,
    IMPLAUSIBLE_TOP,
    MAX_ARM,
    RESERVED_ARMS,
    SEED_REPLAY,
    SMOKE_ENSEMBLE_WHY,
    SMOKE_FAILED,
    SMOKE_REPLAY_WHY,
    SMOKE_WHY,
    Incident,
    PolicyError,
    Request,
)
from reprodiag.confirm.outcomes import (
    TERMINAL,
    ArmSpend,
    AttributionRow,
    BandFinding,
    BandOutcome,
    CheckFinding,
    Conclusion,
    ConclusionKind,
    Findings,
    PipelineFinding,
    PipelinesOutcome,
    ReplayFinding,
    ReplayOutcome,
)
from reprodiag.manifest.model import Axis
from reprodiag.noise.counterfactual import count_words, difference, percent
from reprodiag.noise.sequential import decide_single, next_look
from reprodiag.noise.stats import NoiseSampleError

# The records and constants moved to incident.py and outcomes.py; every name callers imported
# from here is still here.
__all__ = [
    "BASELINE_BAND",
    "CANDIDATE_BAND",
    "FAILS_IN_A_ROW",
    "FIRST_LOOK_WHY",
    "FIRST_ROUND",
    "IMPLAUSIBLE_TOP",
    "MAX_ARM",
    "RESERVED_ARMS",
    "SEED_REPLAY",
    "SMOKE_FAILED",
    "SMOKE_WHY",
    "TERMINAL",
    "ArmSpend",
    "AttributionRow",
    "Axis",
    "BandFinding",
    "BandOutcome",
    "CheckFinding",
    "Conclusion",
    "ConclusionKind",
    "Findings",
    "Incident",
    "Investigation",
    "PipelineFinding",
    "PipelinesOutcome",
    "PolicyError",
    "ReplayFinding",
    "ReplayOutcome",
    "Request",
    "investigate",
]


class Investigation:
    """One incident investigated step by step: `next_batch()`, run it, `record()`, repeat.

    `findings()` may be called at any time; it reflects what has been recorded so far.
    """

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self._ev = Evidence(incident)
        self._pending: list[Request] = []
        self._log: list[Request] = []
        self._stop: str | None = None
        # The conclusion depends only on the runs recorded: memoised until the next record(),
        # since planning asks for it many times per step.
        self._verdict: Conclusion | None = None

    # ------------------------------------------------------------------ facts

    @property
    def size(self) -> float:
        """The gap's size in the metric's units (always ≥ 0)."""
        return self._ev.size

    @property
    def margin(self) -> float:
        """ρ·gap: a check is excluded only when it explains less than this."""
        return self._ev.margin

    @property
    def toward(self) -> float:
        """The sign that turns a raw metric difference into points toward the baseline."""
        return self._ev.toward

    @property
    def zero_gap(self) -> bool:
        """The two values agree to the metric's resolution: nothing to explain."""
        return self._ev.zero_gap

    @property
    def spent(self) -> int:
        """Retrains run so far, failed ones included."""
        return self._ev.spent

    @property
    def budget_left(self) -> int:
        """Retrains the budget still allows."""
        return self._ev.budget_left

    def ok(self, arm: str) -> list[float]:
        """The finished values of one arm (see Evidence.ok)."""
        return self._ev.ok(arm)

    # ------------------------------------------------------------------ driving

    def next_batch(self) -> tuple[Request, ...]:
        """The retrains to run next, or () when the investigation is over."""
        if self._pending:
            return tuple(self._pending)
        if self._stop is not None:
            return ()
        plan = self._plan()
        if isinstance(plan, str):
            self._stop = plan
            return ()
        need = sum(r.count for r in plan)
        if need > self.budget_left:
            what = "; ".join(f"{count_words(r.count, 'retrain')} of {r.arm}" for r in plan)
            self._stop = (
                f"stopped with {count_words(self.budget_left, 'retrain')} of the budget of "
                f"{self.incident.budget} left: the next round ({what}) does not fit, and a round "
                "cut short would break the sequential plan"
            )
            return ()
        self._pending = list(plan)
        self._log.extend(plan)
        return tuple(plan)

    def record(self, arm: str, values: Sequence[float | None]) -> None:
        """The results of a requested round of `arm`: metric values, None for a failed retrain."""
        request = next((r for r in self._pending if r.arm == arm), None)
        if request is None:
            raise PolicyError(f"no retrains of {arm!r} are pending: ask next_batch() first")
        if len(values) > request.count:
            raise PolicyError(f"{len(values)} values for {arm!r}, {request.count} were requested")
        self._ev.add(arm, values)
        self._pending.remove(request)
        self._verdict = None
        self._ev.judge()

    def stop(self, reason: str) -> None:
        """End the investigation from outside (its time budget ran out): the pending rounds are
        dropped unrun (and left out of the spending log), and `reason` becomes the stop reason."""
        for request in self._pending:
            self._log.remove(request)
        self._pending.clear()
        self._stop = reason

    # ------------------------------------------------------------------ planning

    def _plan(self) -> list[Request] | str:
        """The next round, or why the investigation stops (a sentence)."""
        inc = self.incident
        smoke = self._ev.smoke_arm
        if self.zero_gap or not self._ev.runs[smoke]:
            verdict = self.conclusion()
            if verdict.kind in TERMINAL:
                return f"no retrain needed: {verdict.sentence}"
            if smoke == SEED_REPLAY:
                return [Request(SEED_REPLAY, 1, f"{SMOKE_REPLAY_WHY}; {self._replay_why()}", True)]
            count = min(inc.smoke_seeds, max(1, self.budget_left))
            if count > 1:
                return [Request(CANDIDATE_BAND, count, SMOKE_ENSEMBLE_WHY, True)]
            return [Request(CANDIDATE_BAND, 1, SMOKE_WHY, True)]
        if self._ev.smoke_failed:
            return "the smoke retrain failed: the trainer does not work, so no budget went further"
        if self._ev.abandoned(CANDIDATE_BAND):
            return (
                f"the candidate band's last {FAILS_IN_A_ROW} retrains failed: no check can be "
                "judged further"
            )
        n = len(self.ok(CANDIDATE_BAND))
        if n < FIRST_ROUND:
            return [Request(CANDIDATE_BAND, FIRST_ROUND - n, FIRST_LOOK_WHY)]
        if inc.seed_replay and not self._ev.runs[SEED_REPLAY]:
            return [Request(SEED_REPLAY, 1, self._replay_why())]
        verdict = self.conclusion()
        if verdict.kind in TERMINAL:
            return f"the conclusion cannot change: {verdict.kind}"
        step = self._next_step(verdict)
        if step is None:
            return self._settled_words(verdict)
        return [step]

    def _settled_words(self, verdict: Conclusion) -> str:
        """Why no check needs another round: each one the conclusion rests on is settled, and
        the candidate band's own test, when still undecided, is named with why it is not needed."""
        words = "every check the conclusion rests on is decided, failed, or at n = 20 per arm"
        inc = self.incident
        if verdict.kind == "can't tell yet" and not (
            self._ev.has_baseline_band or inc.identical_pipelines
        ):
            words = (
                "every check a retrain here can run is decided, failed, or at n = 20 per arm; "
                "the baseline pipeline, whose own seeds would say more, cannot be retrained here "
                "(what stays open says why)"
            )
        idle = conclusion.band_idle_why(self._ev, verdict)
        if self._ev.band is None and idle is not None:
            n = len(self.ok(CANDIDATE_BAND))
            words += (
                f"; the candidate band's own test of the baseline value stays undecided at "
                f"n = {n}, not needed: {idle}"
            )
        return words

    def _replay_why(self) -> str:
        a = self._ev.num(self.incident.baseline)
        if self.incident.deterministic:
            return (
                "the seed replay, once: the candidate pipeline with the baseline's seeds; training "
                f"is recorded as deterministic, so reproducing the baseline's {a} exactly would "
                "show that the gap is the seed"
            )
        return (
            "the seed replay, once: the candidate pipeline with the baseline's seeds; training is "
            f"not recorded as deterministic, so it is one more draw: only an exact {a} would say "
            "something, and it cannot exclude anything"
        )

    def _can_grow(self, arm: str) -> bool:
        if self._ev.abandoned(arm):
            return False
        return len(self.ok(arm)) < MAX_ARM or len(self.ok(CANDIDATE_BAND)) < MAX_ARM

    def _upper_share(self, arm: str) -> float:
        """How much of the gap a check could still explain: its interval's top, over the gap."""
        band, other = self.ok(CANDIDATE_BAND), self.ok(arm)
        if not other:
            return math.inf  # never measured: it could be anything
        judgement = self._ev.judge_arm(arm) if arm != BASELINE_BAND else None
        if judgement is not None:
            return judgement.share_high
        try:
            return difference(band, other, toward=self.toward).high / self.size
        except NoiseSampleError:
            return math.inf

    def _open_checks(self, verdict: Conclusion) -> list[tuple[float, int, str]]:
        """(how much of the gap it could explain, order, arm) for every check worth a round."""
        out: list[tuple[float, int, str]] = []
        aliased = self.incident.baseline_arm is not None  # grown as its swap arm, below
        if self._ev.has_baseline_band and self._ev.pipes is None and verdict.kind != "explained":
            if not aliased and self._can_grow(BASELINE_BAND):
                out.append((self._upper_share(BASELINE_BAND), 0, BASELINE_BAND))
        for order, arm in enumerate(self.incident.swaps.values(), start=1):
            if arm not in self._ev.frozen and self._can_grow(arm):
                out.append((self._upper_share(arm), order, arm))
        band_needed = self.incident.identical_pipelines or (
            not self._ev.has_baseline_band and verdict.kind != "explained"
        )
        if band_needed and self._ev.band is None and len(self.ok(CANDIDATE_BAND)) < MAX_ARM:
            out.append((-math.inf, len(out) + 99, CANDIDATE_BAND))
        return out

    def _next_step(self, verdict: Conclusion) -> Request | None:
        checks = self._open_checks(verdict)
        if not checks:
            return None
        score, _, arm = max(checks, key=lambda c: (c[0], -c[1]))
        if arm == CANDIDATE_BAND:
            return self._grow(CANDIDATE_BAND, self._band_open_why())
        if not self._ev.runs[arm]:
            return Request(arm, FIRST_ROUND, self._first_round_why(arm))
        return self._grow_pair(arm, score)

    def _grow(self, arm: str, why: str) -> Request:
        n = len(self.ok(arm))
        target = next_look(n) or n + 1
        return Request(arm, target - n, f"{why}; it grows to the next look (n = {target})")

    def _grow_pair(self, arm: str, score: float) -> Request:
        n_arm, n_band = len(self.ok(arm)), len(self.ok(CANDIDATE_BAND))
        label = self._label(arm)
        head = (
            f"{label} is the open check that could explain the most of the gap: up to "
            f"{percent(score)} of it"
        )
        if (n_arm <= n_band or n_band >= MAX_ARM) and n_arm < MAX_ARM:
            return self._grow(
                arm,
                f"{head}; its own arm has {'the fewer' if n_arm < n_band else 'no more'} seeds "
                f"({n_arm} against {n_band} in the candidate band)",
            )
        return self._grow(
            CANDIDATE_BAND,
            f"{head}; the candidate band it is judged against has the fewer seeds ({n_band} "
            f"against {n_arm})",
        )

    def _label(self, arm: str) -> str:
        if arm == BASELINE_BAND:
            return "the baseline pipeline's own band"
        return f"the {arm} ({self._ev.axis_of(arm)} swapped back)"

    def _first_round_why(self, arm: str) -> str:
        if arm == BASELINE_BAND:
            return (
                f"the baseline pipeline's own band, first round ({FIRST_ROUND} seeds): only the "
                "baseline's own seeds can tell a lucky baseline from a real change"
            )
        return (
            f"{self._label(arm)}, first round ({FIRST_ROUND} seeds): a counterfactual is judged "
            "as a pipeline of its own, never from one run"
        )

    def _band_open_why(self) -> str:
        band = self.ok(CANDIDATE_BAND)
        current = decide_single(self.incident.baseline, band, direction=self.incident.direction)
        return f"the candidate band's single-number decision is still open ({current.reason})"

    # ------------------------------------------------------------------ findings

    def replay_finding(self) -> ReplayFinding | None:
        """What the seed replay showed, or None when it was not (yet) run."""
        return self._ev.replay_finding()

    def conclusion(self) -> Conclusion:
        """The overall verdict from the decisions frozen so far (see the module docstring)."""
        if self._verdict is None:
            self._verdict = conclusion.conclude(self._ev)
        return self._verdict

    def baseline_spread(self) -> str:
        """What is known of the baseline pipeline's own seed spread, and what would settle it."""
        return conclusion.baseline_spread(self._ev)

    def findings(self) -> Findings:
        """What the retrains recorded so far show, reconciled into one true account."""
        ev, verdict = self._ev, self.conclusion()
        checks = tuple(
            conclusion.check_finding(ev, axis, arm, verdict)
            for axis, arm in self.incident.swaps.items()
        )
        rows, remainder, words = attribution.attribution(ev, checks)
        spent = tuple(
            ArmSpend(arm, len(runs), sum(v is None for v in runs))
            for arm, runs in ev.runs.items()
            if runs
        )
        return Findings(
            gap=self.incident.gap,
            gap_words=conclusion.gap_words(ev),
            conclusion=verdict,
            checks=checks,
            band=conclusion.band_finding(ev, verdict),
            pipelines=conclusion.pipeline_finding(ev),
            percentile=ev.percentile(),
            baseline_spread=self.baseline_spread(),
            replay=ev.replay_finding(),
            attribution=rows,
            remainder=remainder,
            attribution_words=words,
            spent=spent,
            retrains=self.spent,
            log=tuple(self._log),
            stop_reason=self._stop,
            smoke_arm=ev.smoke_arm,
        )


def investigate(
    incident: Incident, retrain: Callable[[Request], Sequence[float | None]]
) -> Findings:
    """Drive an Investigation to its end: `retrain` runs one request and returns its values."""
    investigation = Investigation(incident)
    while batch := investigation.next_batch():
        for request in batch:
            investigation.record(request.arm, retrain(request))
    return investigation.findings()
