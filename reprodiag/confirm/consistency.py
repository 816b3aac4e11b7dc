"""Statements in one Diagnosis that contradict each other: `contradictions(diagnosis)`.

A report is read as one account. The conclusion, the bar, the band, each check's verdict and
words, each axis' status and the summary must never say opposite things about the same gap (issue
12, "Verdicts that are true"). This module lists every such pair, one sentence each, naming both
statements; an empty list means the record is consistent. It only reads the record: numbers it
needs from words (a check's printed interval and equivalence bound) are parsed from the sentences
reprodiag.noise.counterfactual writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from reprodiag.confirm.attribution import LEFT, unexplained
from reprodiag.diagnosis.model import AxisRank, Check, Diagnosis

RETRAIN_CHECKS = frozenset(
    {"seed_replay", "pinned_snapshot", "intent_swap", "noise_band", "baseline_band"}
)
OUTCOMES = ("explains", "excluded", "cant_tell")
BAND_OUTCOMES = (*OUTCOMES, "consistent")  # the noise band check alone may say "consistent"
# The retrain checks that speak for an axis (a swap named <axis>_swap counts for its axis too).
AXIS_CHECKS = {
    "data": ("pinned_snapshot",),
    "intent": ("intent_swap",),
    "randomness": ("seed_replay", "noise_band", "baseline_band"),
    "code": ("code_swap",),
    "environment": ("env_swap",),
}
# Words that name an axis in a sentence of the summary.
AXIS_WORDS = {
    "data": ("data", "snapshot"),
    "code": ("code",),
    "environment": ("environment",),
    "randomness": ("randomness", "seed noise", "the seed", "seeds"),
    "intent": ("intent", "hyperparameter", "params"),
}
SEED_CONCLUSIONS = ("lucky baseline", "within noise")
# The noise band check's verdict for each (reconciled) band outcome.
BAND_VERDICT = {
    "beyond noise": "excluded",
    "consistent with noise": "consistent",
    "unusual baseline draw": "explains",
    "inconclusive": "cant_tell",
}
_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
_INTERVAL = re.compile(rf"interval \[{_NUMBER}, {_NUMBER}\]")
_BOUND = re.compile(rf"less than {_NUMBER} \((?:a quarter|[\d.]+) of the gap\)")
_HOLDS = re.compile(rf"holds both 0 and {_NUMBER} \((?:a quarter|[\d.]+) of the gap\)")


def contradictions(diagnosis: Diagnosis) -> list[str]:
    """Every pair of statements in `diagnosis` that contradict each other, one sentence each."""
    found: list[str] = []
    for rule in RULES:
        found.extend(rule(diagnosis))
    return list(dict.fromkeys(found))


def is_retrain_check(check: Check) -> bool:
    """Whether a check costs retrains (its verdict is one of the three outcomes once done)."""
    return check.key in RETRAIN_CHECKS or check.key.endswith("_swap")


def _retrain_checks(d: Diagnosis) -> list[Check]:
    return [c for c in d.checks if is_retrain_check(c)]


def _done(d: Diagnosis) -> list[Check]:
    return [c for c in _retrain_checks(d) if c.status == "done"]


def _axis_checks(d: Diagnosis, axis: str) -> list[Check]:
    keys = AXIS_CHECKS.get(axis, ()) + (f"{axis}_swap",)
    return [c for c in _done(d) if c.key in keys]


def _kind(d: Diagnosis) -> str | None:
    return d.conclusion.kind if d.conclusion is not None else None


def _band(d: Diagnosis) -> str | None:
    return d.band.outcome if d.band is not None else None


def _bar(d: Diagnosis) -> str | None:
    return d.bar.level if d.bar is not None else None


def _quote(text: str | None, limit: int = 120) -> str:
    text = (text or "").strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# ---------------------------------------------------------------------------- the rules


def _band_and_conclusion(d: Diagnosis) -> Iterator[str]:
    band, kind = _band(d), _kind(d)
    if band == "beyond noise" and kind in SEED_CONCLUSIONS:
        yield (
            f"the band says 'beyond noise' while the conclusion is '{kind}': the gap cannot be "
            "beyond the seed noise and the seed at once"
        )
    if band == "unusual baseline draw" and kind == "explained":
        yield (
            "the band says the baseline is an 'unusual baseline draw' (the gap is its seed) while "
            "the conclusion is 'explained' by a change"
        )


def _replay_and_band(d: Diagnosis) -> Iterator[str]:
    replay = next((c for c in _done(d) if c.key == "seed_replay"), None)
    if replay is not None and replay.verdict == "explains" and _band(d) == "beyond noise":
        yield (
            "the seed replay 'explains' the gap (it is the seed) while the band says 'beyond "
            "noise' (seed noise cannot explain it)"
        )


def _axis_status_and_checks(d: Diagnosis) -> Iterator[str]:
    for rank in d.ranking:
        checks = _axis_checks(d, rank.axis)
        verdicts = sorted({c.verdict for c in checks})
        shown = ", ".join(f"{c.key} {c.verdict}" for c in checks) or "no retrain check done"
        if rank.status == "confirmed" and "explains" not in verdicts:
            yield f"axis {rank.axis} is 'confirmed' but its retrain checks say: {shown}"
        elif rank.status == "excluded" and "excluded" not in verdicts:
            yield f"axis {rank.axis} is 'excluded' but its retrain checks say: {shown}"
        elif rank.status == "excluded" and "explains" in verdicts and rank.axis != "randomness":
            yield f"axis {rank.axis} is 'excluded' but a retrain check of it explains: {shown}"
        elif rank.status == "cant_tell" and rank.axis != "randomness" and checks:
            if any(v in ("explains", "excluded") for v in verdicts):
                yield f"axis {rank.axis} is 'cant_tell' but its retrain checks say: {shown}"
        if (
            rank.status == "confirmed"
            and rank.axis != "randomness"
            and _kind(d) in SEED_CONCLUSIONS
        ):
            yield (
                f"axis {rank.axis} is 'confirmed' as a cause while the conclusion is "
                f"'{_kind(d)}' (the gap is the seed)"
            )


def _ruled_out_needs_same(d: Diagnosis) -> Iterator[str]:
    axes = {a.axis: a.status for a in d.diff.axes}
    for rank in d.ranking:
        if rank.status == "ruled_out" and axes.get(rank.axis) == "differs":
            yield (
                f"axis {rank.axis} is 'ruled_out' while the diff shows it differs: only identical "
                "versioned facts rule an axis out (a retrain can at most exclude it)"
            )


def _randomness_and_band(d: Diagnosis) -> Iterator[str]:
    status = next((r.status for r in d.ranking if r.axis == "randomness"), None)
    if status in ("confirmed", "noise") and _band(d) == "beyond noise":
        yield (
            f"axis randomness is '{status}' (the seed explains the gap) while the band says "
            "'beyond noise'"
        )


def _explained_needs_cause(d: Diagnosis) -> Iterator[str]:
    if _kind(d) != "explained":
        return
    confirmed = [r.axis for r in d.ranking if r.status == "confirmed"]
    if not confirmed:
        yield "the conclusion is 'explained' but no axis is 'confirmed'"
    if _bar(d) == "statistically equivalent":
        yield (
            "the conclusion is 'explained' (a change moved the metric) while the bar says "
            "'statistically equivalent'"
        )


def _reproduces_needs_nothing(d: Diagnosis) -> Iterator[str]:
    kind, bar = _kind(d), _bar(d)
    if kind == "reproduces":
        for check in _done(d):
            yield f"the conclusion is 'reproduces' (no retrain needed) but the {check.name} ran"
        if bar not in (None, "bit-exact", "metric-exact", "conclusion-equivalent"):
            yield f"the conclusion is 'reproduces' while the bar is '{bar}'"
    elif bar in ("bit-exact", "metric-exact") and kind is not None:
        yield f"the bar is '{bar}' (no gap at all) while the conclusion is '{kind}'"


def _seed_conclusion_and_bar(d: Diagnosis) -> Iterator[str]:
    kind, bar = _kind(d), _bar(d)
    if kind in SEED_CONCLUSIONS and bar == "not reproduced":
        yield f"the conclusion is '{kind}' (the gap is the seed) while the bar is 'not reproduced'"
    if kind == "can't tell yet" and bar == "statistically equivalent":
        yield (
            "the conclusion is 'can't tell yet' while the bar says 'statistically equivalent' "
            "(an equivalence shown would decide the conclusion)"
        )
    if bar == "statistically equivalent" and _band(d) == "beyond noise":
        yield "the bar says 'statistically equivalent' while the band says 'beyond noise'"


def _trainer_failed_measures_nothing(d: Diagnosis) -> Iterator[str]:
    kind = _kind(d)
    if kind not in ("trainer failed", "retrain refused"):
        return
    for check in _done(d):
        if check.verdict in ("explains", "excluded"):
            yield (
                f"the conclusion is '{kind}' (nothing measured) but the {check.name} "
                f"says '{check.verdict}'"
            )
    for rank in d.ranking:
        if rank.status in ("confirmed", "excluded"):
            yield (
                f"the conclusion is '{kind}' (nothing measured) but axis {rank.axis} is "
                f"'{rank.status}'"
            )
    if d.bar is not None and d.bar.level == "undetermined" and "compare --retrain" in d.bar.reason:
        yield (
            f"the conclusion is '{kind}' but the bar still says to run compare --retrain, which "
            "is what just ran"
        )


def _verdicts_in_vocabulary(d: Diagnosis) -> Iterator[str]:
    for check in _retrain_checks(d):
        allowed = BAND_OUTCOMES if check.key == "noise_band" else OUTCOMES
        if check.status == "done" and check.verdict not in allowed:
            yield (
                f"the {check.name} ran but its verdict is '{check.verdict}', not one of "
                f"{', '.join(allowed)}"
            )
        if check.status != "done" and check.verdict in BAND_OUTCOMES:
            yield f"the {check.name} did not run ({check.status}) yet says '{check.verdict}'"


def _words_match_verdict(d: Diagnosis) -> Iterator[str]:
    for check in _done(d):
        words = (check.observed or "").lower()
        if check.verdict in ("cant_tell", "explains"):
            for phrase in ("ruled out", "explains none"):
                if phrase in words:
                    yield (
                        f"the {check.name} says '{check.verdict}' but its words say "
                        f"'{phrase}': {_quote(check.observed)}"
                    )
        if check.verdict == "excluded" and words.startswith(("explains", "can't tell")):
            yield f"the {check.name} says 'excluded' but its words say: {_quote(check.observed)}"
        yield from _numbers_match_verdict(check)


def _numbers_match_verdict(check: Check) -> Iterator[str]:
    """A swap's verdict against its own printed interval and bound (STATS.md rules)."""
    words = check.observed or ""
    interval = _INTERVAL.search(words)
    if interval is None:
        return
    low, high = float(interval.group(1)), float(interval.group(2))
    bound = _BOUND.search(words) or _HOLDS.search(words)
    if check.verdict == "explains" and low <= 0:
        yield f"the {check.name} says 'explains' but its interval [{low:g}, {high:g}] holds 0"
    if check.verdict == "excluded":
        if bound is None:
            yield f"the {check.name} says 'excluded' but states no equivalence bound"
        elif high >= float(bound.group(1)):
            yield (
                f"the {check.name} says 'excluded' but its interval's top {high:g} is not "
                f"below its bound {bound.group(1)}"
            )
    if check.verdict == "cant_tell" and low > 0:
        yield (
            f"the {check.name} says 'cant_tell' but its interval [{low:g}, {high:g}] lies above "
            "0: it explains part of the gap"
        )
    if check.verdict == "cant_tell" and bound is not None and high < float(bound.group(1)):
        yield (
            f"the {check.name} says 'cant_tell' but its interval's top {high:g} is below its "
            f"bound {bound.group(1)}: it is excluded"
        )


def _band_check_and_band(d: Diagnosis) -> Iterator[str]:
    band = _band(d)
    check = next((c for c in _done(d) if c.key == "noise_band"), None)
    if band is None or check is None:
        return
    expected = BAND_VERDICT.get(band)
    if expected is not None and check.verdict != expected:
        yield (
            f"the band says '{band}' but the noise band check says '{check.verdict}' "
            f"(expected '{expected}')"
        )


def _band_words_and_outcome(d: Diagnosis) -> Iterator[str]:
    """A band decided ('beyond noise', 'consistent with noise') whose own words say it is not."""
    undecided = ("continue to n", "not yet checked")
    if d.band is not None and d.band.outcome in ("beyond noise", "consistent with noise"):
        note = (d.band.note or "").lower()
        if any(w in note for w in undecided):
            yield (
                f"the band says '{d.band.outcome}' but its words say the test has not decided "
                f"(continue to n): {_quote(d.band.note)}"
            )
    check = next((c for c in _done(d) if c.key == "noise_band"), None)
    if check is not None and check.verdict in ("explains", "excluded"):
        if any(w in (check.observed or "").lower() for w in undecided):
            yield (
                f"the noise band says '{check.verdict}' but its words say the test has not "
                f"decided (continue to n): {_quote(check.observed)}"
            )


def _summary_ruled_out(d: Diagnosis) -> Iterator[str]:
    statuses: dict[str, str] = {r.axis: r.status for r in d.ranking}
    for clause in re.split(r"[.;:]\s", d.summary):
        lowered = clause.lower()
        if "ruled out" not in lowered and "rules out" not in lowered:
            continue
        for axis in _axes_named(lowered):
            status = statuses.get(axis)
            if status is not None and status != "ruled_out":
                yield f"the summary says {_quote(clause)} of {axis}, whose status is '{status}'"


def _axes_named(clause: str) -> Iterable[str]:
    for axis, words in AXIS_WORDS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", clause) for w in words):
            yield axis


def _ranking_reason_ruled_out(d: Diagnosis) -> Iterator[str]:
    for rank in d.ranking:
        if rank.status in ("cant_tell", "confirmed", "candidate", "unversioned", "noise"):
            if _first_clause_rules_out(rank):
                yield (
                    f"axis {rank.axis} is '{rank.status}' but its reason opens with "
                    f"'ruled out': {_quote(rank.reason)}"
                )


def _first_clause_rules_out(rank: AxisRank) -> bool:
    first = re.split(r"[;:]", rank.reason, maxsplit=1)[0].lower()
    return "ruled out" in first or "explains none" in first


_SIGNED = r"([\u2212-]?\d+(?:\.\d+)?)"
_LEFT = re.compile(
    rf"{LEFT}: (?:all )?{_SIGNED} of the {_SIGNED} pts gap"
    rf"(?: \((?:[\d.]+ % )?interval {_SIGNED} to {_SIGNED})?",
    re.IGNORECASE,
)


def remainder_statements(text: str) -> list[tuple[str, ...]]:
    """Every statement of the unexplained remainder in `text`: (value, gap[, low, high])."""
    return [tuple(g for g in m.groups() if g is not None) for m in _LEFT.finditer(text)]


def _remainder_stated_once(d: Diagnosis) -> Iterator[str]:
    """The unexplained remainder said with one value and one interval, the computed ones."""
    rest = unexplained(d)
    texts = [d.summary, d.conclusion.sentence if d.conclusion else "", *d.conclusion_open]
    texts += [c.observed or "" for c in d.checks]
    stated = [s for t in texts for s in remainder_statements(t)]
    if rest is None:
        for s in stated:
            yield f"a remainder of {s[0]} is stated but no noise band measured one"
        return
    ends = (rest.num(rest.low), rest.num(rest.high)) if rest.causes else ()
    computed = (rest.num(rest.points), rest.num(rest.gap), *ends)
    for s in dict.fromkeys(stated):
        if s != computed[: len(s)]:
            yield (
                f"the unexplained remainder is stated as {' / '.join(s)} but computed as "
                f"{' / '.join(computed)} (value / gap / interval)"
            )
    if len(set(stated)) > 1:
        yield f"the unexplained remainder is stated with {len(set(stated))} different values"


RULES: tuple[Callable[[Diagnosis], Iterable[str]], ...] = (
    _band_and_conclusion,
    _replay_and_band,
    _axis_status_and_checks,
    _ruled_out_needs_same,
    _randomness_and_band,
    _explained_needs_cause,
    _reproduces_needs_nothing,
    _seed_conclusion_and_bar,
    _trainer_failed_measures_nothing,
    _verdicts_in_vocabulary,
    _words_match_verdict,
    _band_check_and_band,
    _band_words_and_outcome,
    _summary_ruled_out,
    _ranking_reason_ruled_out,
    _remainder_stated_once,
)
