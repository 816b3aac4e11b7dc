"""Sequential stopping for seed retrains: retrain only as many seeds as the decision needs.

Looks at n = 3, 5, 8, 12, 20 seeds (shared/STATS.md "Sequential stopping"). Testing p < 0.05 at
every look gives 12.3 % false alarms (single baseline) and 14.7 % (two-sample); a constant
(Pocock) boundary holds the overall α near 0.05: p < 0.0175 for a single baseline, p < 0.0158 for
two-sample Welch. Futility for a single baseline: |T| < 1 at n ≥ 5. Reaching n = 20 undecided is
"inconclusive", stated with the minimum detectable effect. tests/test_noise_sequential.py
simulates these rules and prints their operating characteristics.

Every `Decision` carries its reason in words with the numbers behind it; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reprodiag.manifest.model import Direction
from reprodiag.noise.stats import (
    MIN_SEEDS,
    SeedValues,
    SingleBaseline,
    TwoSample,
    single_baseline,
    welch_tost,
)

LOOKS: tuple[int, ...] = (3, 5, 8, 12, 20)
POCOCK_SINGLE = 0.0175
POCOCK_TWO_SAMPLE = 0.0158
FUTILITY_T = 1.0
FUTILITY_MIN_N = 5
TOST_ALPHA = 0.05

Outcome = Literal["beyond noise", "consistent with noise", "inconclusive"]
BEYOND: Outcome = "beyond noise"
CONSISTENT: Outcome = "consistent with noise"
INCONCLUSIVE: Outcome = "inconclusive"


@dataclass(frozen=True)
class Decision:
    """What to do after the seeds finished so far.

    `outcome` None means keep retraining up to `next_n` seeds. `n` is the number of finished seeds
    (for two samples: the smaller arm). `test` is None only when fewer than 3 seeds finished.
    """

    outcome: Outcome | None
    n: int
    stop: bool
    reason: str
    next_n: int | None
    test: SingleBaseline | TwoSample | None


def next_look(n: int) -> int | None:
    """The first look after n finished seeds, or None once the last look (20) is reached."""
    return next((look for look in LOOKS if look > n), None)


def _fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _num(x: float) -> str:
    return f"{x:.4g}"


def _is_look(n: int, final: bool) -> bool:
    # Past the last look (n > 20 seeds from a reused band store) there is nothing left to wait for.
    return final or n in LOOKS or n >= LOOKS[-1]


def _stop(
    outcome: Outcome, n: int, reason: str, test: SingleBaseline | TwoSample | None
) -> Decision:
    return Decision(outcome=outcome, n=n, stop=True, reason=reason, next_n=None, test=test)


def _go_on(n: int, reason: str, test: SingleBaseline | TwoSample | None) -> Decision:
    return Decision(outcome=None, n=n, stop=False, reason=reason, next_n=next_look(n), test=test)


def _too_few(n: int, final: bool) -> Decision:
    if final:
        return _stop(
            INCONCLUSIVE, n, f"only {n} seed(s) finished: at least {MIN_SEEDS} are needed", None
        )
    return _go_on(n, f"n = {n}: waiting for the first look at n = {LOOKS[0]}", None)


def _between_looks(n: int, test: SingleBaseline | TwoSample) -> Decision:
    return _go_on(n, f"n = {n}: between looks; next look at n = {next_look(n)}", test)


def _end_text(n: int, unit: str = "") -> str:
    if n >= LOOKS[-1]:
        return f"n = {n}{unit} reached undecided"
    return f"n = {n}{unit} (no more seeds: budget spent or retrains failed) undecided"


def _deterministic_single(test: SingleBaseline) -> Decision:
    n, value = test.n, _num(test.mean)
    if test.baseline == test.mean:
        return _stop(
            CONSISTENT,
            n,
            (
                f"n = {n}: all {n} seed retrains gave exactly the baseline value {value} (s = 0): "
                "consistent with noise; the result is deterministic, so it reproduces"
            ),
            test,
        )
    return _stop(
        BEYOND,
        n,
        (
            f"n = {n}: all {n} seed retrains gave {value} (s = 0) but the baseline is "
            f"{_num(test.baseline)}: T = {test.t}, p = 0: beyond noise; the seeds do not move this "
            "metric at all, so another axis explains the gap"
        ),
        test,
    )


def _judge_single(test: SingleBaseline, final: bool) -> Decision:
    n, t, p = test.n, test.t, test.p
    stats = f"T = {t:.2f}, p = {_fmt_p(p)}"
    if test.std == 0.0:
        return _deterministic_single(test)
    if p < POCOCK_SINGLE:
        return _stop(
            BEYOND,
            n,
            (
                f"n = {n}: {stats} < {POCOCK_SINGLE} (Pocock boundary): the baseline lies beyond "
                f"the seed-noise band [{_num(test.low)}, {_num(test.high)}]"
            ),
            test,
        )
    if n >= FUTILITY_MIN_N and abs(t) < FUTILITY_T:
        return _stop(
            CONSISTENT,
            n,
            (
                f"n = {n}: |T| = {abs(t):.2f} < {FUTILITY_T:g}: futility: consistent with noise "
                "(no evidence of a shift of about 3σ or more)"
            ),
            test,
        )
    if final or n >= LOOKS[-1]:
        return _stop(
            INCONCLUSIVE,
            n,
            (
                f"{_end_text(n)}: inconclusive ({stats}); the minimum detectable effect is "
                f"{test.min_detectable_effect:.3g} in the metric's units; one baseline value "
                "cannot resolve shifts under about 3σ: retrain the baseline configuration if its "
                "axes are pinned"
            ),
            test,
        )
    futility = "not yet checked" if n < FUTILITY_MIN_N else f"|T| ≥ {FUTILITY_T:g}"
    return _go_on(
        n,
        (
            f"n = {n}: {stats} ≥ {POCOCK_SINGLE} and futility {futility}: "
            f"continue to n = {next_look(n)}"
        ),
        test,
    )


def decide_single(
    baseline: float, seeds: SeedValues, *, final: bool = False, direction: Direction = "higher"
) -> Decision:
    """Sequential decision for one historical baseline value against the seeds finished so far.

    Decides only at a look (len(seeds) in LOOKS, or beyond the last) or when `final` is True
    (retrain budget spent, or failures left fewer seeds than planned): then it decides with what
    there is, and fewer than 3 seeds is "inconclusive". Rules, in order: p < 0.0175 → beyond
    noise; n ≥ 5 and |T| < 1 → consistent with noise; n = 20 or final → inconclusive.

    All seeds equal (s = 0) is decided at once, even at n = 3: consistent with noise when the
    baseline equals that value (the run reproduces exactly), beyond noise otherwise (T = ±inf).
    """
    values = [float(v) for v in seeds]
    n = len(values)
    if n < MIN_SEEDS:
        return _too_few(n, final)
    test = single_baseline(baseline, values, direction=direction)
    return _judge_single(test, final) if _is_look(n, final) else _between_looks(n, test)


def _arms_text(n: int, sizes: tuple[int, int]) -> str:
    """ "n = 5 per arm", or, for arms of unequal size, "n = 5 and 3 (the look is set by the
    smaller arm)": each arm's seeds all enter the Welch statistic."""
    if sizes[0] == sizes[1]:
        return f"n = {n} per arm"
    return f"n = {sizes[0]} and {sizes[1]} (the look is set by the smaller arm)"


def _judge_two_sample(
    test: TwoSample, n: int, final: bool, sizes: tuple[int, int] | None = None
) -> Decision:
    arms = _arms_text(n, sizes or (n, n))
    diff = f"difference {_num(test.diff)}, 95 % CI [{_num(test.ci_low)}, {_num(test.ci_high)}]"
    welch = f"Welch t = {test.t:.2f} (df {test.df:.1f}), p = {_fmt_p(test.p)}"
    if test.p < POCOCK_TWO_SAMPLE:
        return _stop(
            BEYOND,
            n,
            (
                f"{arms}: {welch} < {POCOCK_TWO_SAMPLE} (Pocock boundary): the two "
                f"configurations differ beyond seed noise ({diff})"
            ),
            test,
        )
    if test.equivalent:
        return _stop(
            CONSISTENT,
            n,
            (
                f"{arms}: TOST p = {_fmt_p(test.tost_p)} < {TOST_ALPHA}: equivalent "
                f"within ±{_num(test.delta)} ({diff}): consistent with noise"
            ),
            test,
        )
    if final or n >= LOOKS[-1]:
        return _stop(
            INCONCLUSIVE,
            n,
            (
                f"{_end_text(n, ' per arm')}: inconclusive ({welch}, TOST p = "
                f"{_fmt_p(test.tost_p)}; {diff}); the minimum detectable difference is "
                f"{test.min_detectable_effect:.3g} in the metric's units"
            ),
            test,
        )
    return _go_on(
        n,
        (
            f"{arms}: {welch} ≥ {POCOCK_TWO_SAMPLE} and TOST p = {_fmt_p(test.tost_p)} ≥ "
            f"{TOST_ALPHA} (δ = {_num(test.delta)}): continue to n = {next_look(n)}"
        ),
        test,
    )


def decide_two_sample(
    a: SeedValues, b: SeedValues, *, delta: float, final: bool = False
) -> Decision:
    """Sequential decision when both configurations are retrainable (arm a vs arm b).

    The look is set by the smaller arm. Rules, in order: Welch p < 0.0158 → beyond noise; TOST
    equivalent within ±delta (α = 0.05) → consistent with noise; n = 20 or final → inconclusive.
    Fewer than 3 seeds in an arm at `final` is "inconclusive".
    """
    xa, xb = [float(v) for v in a], [float(v) for v in b]
    n = min(len(xa), len(xb))
    if n < MIN_SEEDS:
        return _too_few(n, final)
    test = welch_tost(xa, xb, delta=delta)
    sizes = (len(xa), len(xb))
    if _is_look(n, final):
        return _judge_two_sample(test, n, final, sizes)
    return _between_looks(n, test)
