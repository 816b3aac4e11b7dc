"""The reproducibility bar after retrains: statistically equivalent, not reproduced, or still open.

The manifests alone place a zero gap (bit-exact or metric-exact) and a shared side of the user's
acceptance threshold (conclusion-equivalent); retrains add the rest. "Statistically equivalent"
is said only where an equivalence argument holds: the two pipelines' seed bands pass TOST, the
seed replay reproduces the baseline exactly (deterministic training), or the runs differ only in
their seeds (two draws of one pipeline) and the gap lies within its band.
One baseline value inside the candidate's band is not equivalence: the bar stays open then.
"""

from __future__ import annotations

from reprodiag.confirm.policy import Findings, Incident
from reprodiag.diagnosis.bar import threshold_words
from reprodiag.diagnosis.model import Bar, Diagnosis


def retrain_bar(diagnosis: Diagnosis, findings: Findings, incident: Incident) -> Bar | None:
    """The bar the pair meets given what the retrains showed."""
    kind = findings.conclusion.kind
    if kind in ("reproduces", "trainer failed"):
        return diagnosis.bar
    same_side = threshold_words(diagnosis.gap)
    pipelines = findings.pipelines
    if kind in ("lucky baseline", "within noise"):
        if pipelines is not None and pipelines.outcome == "equivalent":
            return Bar("statistically equivalent", pipelines.words)
        replay = findings.replay
        if replay is not None and replay.exact and replay.outcome == "explains":
            return Bar(
                "statistically equivalent",
                "the candidate pipeline reproduces the baseline exactly with the baseline's own "
                "seeds, so both runs are draws of one pipeline",
            )
        if incident.identical_pipelines:
            return Bar(
                "statistically equivalent",
                "the two runs differ only in their seeds, so both are draws of one pipeline, "
                f"and {findings.band.words}",
            )
        if (
            pipelines is not None
            and pipelines.outcome in ("undecided", "inconclusive")
            and pipelines.decision is not None  # it has seeds enough to be judged at all
        ):
            settle = (
                "the baseline pipeline's own seeds do not settle it yet (baseline band, check "
                "12: neither different nor equivalent); more of them would"
            )
        elif incident.baseline_retrainable or incident.baseline_arm is not None:
            settle = (
                "retraining the baseline pipeline (its pinned snapshot, the same code) would "
                "settle it"
            )
        else:
            why = f" ({incident.baseline_why})" if incident.baseline_why else ""
            settle = f"the baseline pipeline cannot be retrained here{why}, so this stays open"
        open_words = (
            "the gap is within the candidate pipeline's seed noise, but one baseline value "
            f"cannot show the two pipelines equivalent; {settle}"
        )
        if same_side:
            return Bar("conclusion-equivalent", f"{same_side}; {open_words}")
        return Bar("undetermined", open_words)
    differ = pipelines is not None and pipelines.outcome == "differ"
    if kind == "explained" or differ:
        reason = _not_reproduced_words(findings)
        if same_side:
            return Bar("conclusion-equivalent", f"{same_side}, although {reason}")
        return Bar("not reproduced", reason)
    if same_side:
        return Bar("conclusion-equivalent", f"{same_side}; {findings.conclusion.sentence}")
    return Bar("undetermined", findings.conclusion.sentence)


def _not_reproduced_words(findings: Findings) -> str:
    """Why the pair is not reproduced, in one clause (the conclusion has the numbers)."""
    axes = [f.axis for f in findings.checks if f.outcome == "explains"]
    if axes:
        named = " and ".join(axes)
        verb = "explains" if len(axes) == 1 else "explain"
        return f"a change in {named} {verb} the gap (see the conclusion for the points)"
    pipelines = findings.pipelines
    if pipelines is not None and pipelines.outcome == "differ":
        return f"the two pipelines' seed distributions differ: {pipelines.words}"
    return findings.conclusion.sentence
