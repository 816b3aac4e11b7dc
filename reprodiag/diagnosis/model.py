"""The Diagnosis record: everything a report shows, computed before any renderer runs.

Renderers (report/) only lay this out; they never decide anything. The JSON form of this record is
the versioned `reprodiag.diagnosis/v2` format documented in README.md (v1 files still read).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reprodiag._records import OMIT_WHEN_DEFAULT
from reprodiag.diagnosis.content import ContentDiff
from reprodiag.manifest.model import Axis, Direction, JSONValue
from reprodiag.retrain.seed_result import SeedResult

DIAGNOSIS_FORMAT = "reprodiag.diagnosis/v2"

FieldStatus = Literal["same", "differs", "unversioned"]
# Where a diff row belongs: one of the five axes, or "run"/"results" for the noise fields.
FieldRoot = Literal["data", "code", "environment", "randomness", "intent", "run", "results"]
Side = Literal["baseline", "candidate", "both"]
# How an axis is placed (DESIGN.md "Ranking"):
#   confirmed   a counterfactual retrain closed the gap (points_explained set)
#   candidate   versioned on both sides and different
#   unversioned a fact is missing on one side or both: cannot be ruled out; placed by the
#               prior order
#   noise       the gap lies inside the noise band: randomness alone can explain it
#   ruled_out   versioned on both sides and identical (the manifests alone rule it out)
# and, from retrains judged as two pipelines (STATS.md "Counterfactual checks"):
#   excluded    its swap explains less than a stated share of the gap (an equivalence test)
#   cant_tell   its swap was run but cannot decide yet (the interval holds 0 and a real share)
AxisStatus = Literal[
    "confirmed", "candidate", "unversioned", "noise", "ruled_out", "excluded", "cant_tell"
]
CheckStatus = Literal["done", "planned", "skipped"]
# A free check says candidate / unversioned / rules_out (facts of the manifests); a retrain check
# says one of the three outcomes: explains / excluded / cant_tell. The noise band check alone may
# say "consistent": the baseline lies inside the candidate's seed band, so seeds alone can produce
# the gap; that shows no large change and excludes no small one, so it is not "explains".
# "confirms", "inconclusive" remain readable in diagnoses written by reprodiag 0.1.
CheckVerdict = Literal[
    "confirms",
    "candidate",
    "unversioned",
    "rules_out",
    "inconclusive",
    "not_run",
    "explains",
    "excluded",
    "cant_tell",
    "consistent",
]
# The single-number test of the candidate band, as the investigation reconciled it: "unusual
# baseline draw" where the test alone says "beyond noise" but the seed replay, identical pipelines
# or the baseline's own band show that the gap is the baseline's seed.
BandOutcome = Literal[
    "beyond noise", "consistent with noise", "inconclusive", "unusual baseline draw"
]
# The overall verdict of an investigation by retrains (None in manifest-only mode). "no retrain
# ran": retrains were asked for, but none could run (the sentence says why). "retrain refused":
# the smoke retrain ran, but its own manifest shows it is not the pipeline it stands for (this
# machine's code or environment differs from the candidate's): nothing was measured, and the
# trainer is not to blame (reprodiag.confirm.identity).
ConclusionKind = Literal[
    "reproduces",
    "explained",
    "within noise",
    "lucky baseline",
    "can't tell yet",
    "trainer failed",
    "no retrain ran",
    "retrain refused",
]
# The reproducibility bar a pair meets (DESIGN.md "Reports"; the lesson's question "reproducible
# to what bar?"). "undetermined": the evidence at hand cannot place the pair yet.
BarLevel = Literal[
    "bit-exact",
    "metric-exact",
    "statistically equivalent",
    "conclusion-equivalent",
    "not reproduced",
    "undetermined",
]


# Short names of the checks, by key: sentences use these, never a title cut at its colon.
CHECK_NAMES = {
    "code": "code comparison",
    "environment": "environment comparison",
    "intent": "intent comparison",
    "data": "snapshot comparison",
    "randomness": "seed comparison",
    "seed_replay": "seed replay",
    "pinned_snapshot": "pinned-snapshot retrain",
    "noise_band": "noise band",
    "intent_swap": "intent swap",
    "baseline_band": "baseline band",
    "code_swap": "code swap",
    "data_bisection": "data bisection",
    "code_bisection": "code bisection",
}


@dataclass(frozen=True)
class FieldDiff:
    """One manifest field compared between the two runs: same, differs, or unversioned."""

    path: str  # dotted manifest path, e.g. "environment.torch_version"
    axis: FieldRoot
    status: FieldStatus
    # Each side is the fact's JSON value (None when absent, a skipped fact as {"skipped": reason})
    # or, when a whole record is skipped on one side, that record's JSON object. JSON, not the
    # record, because the diff still runs on the manifest's JSON (a typed diff is a follow-up).
    baseline: JSONValue
    candidate: JSONValue
    noise: bool = False  # differs between any two runs by nature (ids, times, hostnames)
    unversioned_side: Side | None = None
    note: str | None = (
        None  # version-aware note, e.g. "a torch version change: bitwise results are not promised"
    )


@dataclass(frozen=True)
class AxisDiff:
    """One axis of the classified diff: its status and every non-noise field."""

    axis: Axis
    status: FieldStatus  # differs if any field differs; else unversioned if any is; else same
    fields: tuple[FieldDiff, ...]  # every non-noise field of the axis, in path order


@dataclass(frozen=True)
class ManifestDiff:
    """The classified diff of two manifests, axis by axis, and whether they are one family."""

    axes: tuple[AxisDiff, ...]  # in AXES order
    noise: tuple[FieldDiff, ...]  # noise fields that differ (hidden unless asked for)
    same_family: bool
    family_note: str | None = None  # why two manifests look like different model families


@dataclass(frozen=True)
class RunLabel:
    """One of the two runs as a report names it."""

    label: str  # "baseline" / "candidate" or the user's name for it
    path: str | None  # where the manifest was read from (scrubbed in golden files)
    run_id: str
    run_name: str | None
    created_at: str


@dataclass(frozen=True)
class Gap:
    """The gap being diagnosed: the metric, both values, and how much worse the candidate is."""

    metric: str
    direction: Direction
    baseline: float | None
    candidate: float | None
    delta: float  # candidate - baseline, in the metric's units
    worse_by: float  # positive when the candidate is worse, given the metric's direction
    source: Literal["manifests", "option"]
    threshold: float | None = None  # the user's acceptance threshold (compare --accept-at)


# Where one bisection point lies between the two ends (reprodiag.confirm.bisect).
PointVerdict = Literal["like the baseline", "like the candidate", "part of the way", "undecided"]


@dataclass(frozen=True)
class BisectionStep:
    """One round of a bisection: the point retrained, this round's retrains, every finished
    value of the point so far, and where the point lies after the round, in words."""

    point: str
    retrains: int
    values: tuple[float, ...]
    verdict: PointVerdict
    words: str


@dataclass(frozen=True)
class Bisection:
    """The search for the first data version or commit that moves the metric, step by step.

    `points` runs from the baseline end to the candidate end; `first` names the first point that
    moves the metric (None: the search stopped, `remaining` holds the points it may still be at)
    and `first_info` its commit info (data: operation, timestamp, parameters, user metadata;
    code: commit, subject, author, date).
    """

    axis: Axis
    points: tuple[str, ...]
    steps: tuple[BisectionStep, ...]
    first: str | None
    first_info: Mapping[str, JSONValue]
    remaining: tuple[str, ...]
    stop: str
    # Each point's commit info, in the order of `points` (the report's per-step table); left out
    # of the JSON when empty (diagnoses written before it).
    infos: tuple[Mapping[str, JSONValue], ...] = field(
        default=(), metadata={OMIT_WHEN_DEFAULT: True}
    )


@dataclass(frozen=True)
class RetrainRun:
    """One retrain a check ran: its seed, the metric value (None when it failed), how long it
    took, why it failed or was refused, and for a bisection the point (data version or commit)
    it retrained. The report draws these on the noise-band chart and lists them per seed."""

    seed: int
    metric: float | None
    status: Literal["ok", "failed"]
    reason: str | None = None  # a failed or refused retrain's reason
    seconds: float | None = None
    point: str | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})

    @classmethod
    def of(cls, result: SeedResult, point: str | None = None) -> RetrainRun:
        """The run of one finished retrain (at a bisection `point`, when given)."""
        return cls(result.seed, result.metric, result.status, result.reason, result.seconds, point)


@dataclass(frozen=True)
class Check:
    """One check in cost order: what it expects, what falsifies it, what it observed, verdict."""

    order: int  # cost order (DESIGN.md table)
    # code, environment, intent, data, randomness, seed_replay, pinned_snapshot, intent_swap,
    # noise_band
    key: str
    title: str
    axis: Axis
    cost: str  # in words: "free", "1 retrain", "3..20 retrains"
    retrains: int  # upper bound of retrains it costs
    status: CheckStatus
    expected: str  # what the check expects to see if the axis is the cause
    falsified_by: str  # what observation would rule the axis out
    observed: str | None  # what was seen; None while planned
    verdict: CheckVerdict
    evidence: tuple[str, ...] = ()  # field paths or retrain ids behind the observation
    # A bisection check's path (data_bisection, code_bisection); left out of the JSON when None.
    bisection: Bisection | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})
    # The retrains this check ran, one per seed in the order they ran, failed and refused ones
    # with their reason (the seed replay, each swap, the baseline band, a bisection's points; the
    # candidate band's are the noise band's seeds); left out of the JSON when empty.
    runs: tuple[RetrainRun, ...] = field(default=(), metadata={OMIT_WHEN_DEFAULT: True})

    @property
    def name(self) -> str:
        """The check's short name in words ("pinned-snapshot retrain"), for sentences."""
        return CHECK_NAMES.get(self.key, self.key.replace("_", " "))


@dataclass(frozen=True)
class Attribution:
    """Points of the gap one axis explains, with their interval, and the check that measured it."""

    axis: Axis
    points: float  # metric points this axis explains (same units as the gap)
    low: float  # interval on the points explained
    high: float
    check: str  # key of the retrain check that measured it


@dataclass(frozen=True)
class AxisRank:
    """One axis placed in the ranking, with its status, reason in words and evidence."""

    rank: int  # 1 = most likely cause
    axis: Axis
    status: AxisStatus
    reason: str  # the placement, in words
    evidence: tuple[str, ...] = ()
    attribution: Attribution | None = None


@dataclass(frozen=True)
class Fix:
    """The structural fix for one axis, its cost and how the platform enforces it."""

    axis: str
    fix: str  # the structural fix, e.g. "read training data through a pinned Delta version"
    cost: (
        str  # e.g. "storage for retained versions", "throughput: deterministic ops", "free: hashes"
    )
    enforcement: str  # how the platform enforces it so nobody can forget


@dataclass(frozen=True)
class TierRule:
    """One tier of the reproducibility policy and the axes it enforces."""

    tier: str
    applies_to: str  # what counts as this tier, e.g. "serves real traffic"
    axes: tuple[str, ...]  # enforced axes
    enforcement: str  # the enforcement point


@dataclass(frozen=True)
class NoiseBand:
    """The seed-noise band (filled by the retrain issue; None in manifest-only mode)."""

    metric: str
    n: int
    mean: float
    std: float
    low: float
    high: float
    k: float
    outcome: BandOutcome
    statistic: float | None
    p_value: float | None
    baseline_rank: str | None
    min_detectable_effect: float | None
    seeds: tuple[SeedResult, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Conclusion:
    """The overall verdict of the retrains, in one kind and one sentence with its numbers."""

    kind: ConclusionKind
    sentence: str

    @property
    def line(self) -> str:
        """`explained: the data change ...`: the kind, then the sentence without the kind again
        (a sentence that opens "the gap is explained: " would say it twice)."""
        return f"{self.kind}: {self.sentence.removeprefix(f'the gap is {self.kind}: ')}"


@dataclass(frozen=True)
class Bar:
    """The reproducibility bar the pair meets, and the evidence that places it there."""

    level: BarLevel
    reason: str


@dataclass(frozen=True)
class IncidentInfo:
    """What the person writing the incident report adds: its title, owner and timeline."""

    title: str | None = None
    owner: str | None = None
    # Lines as given to --timeline, in order ("2026-11-25 09:00 retrain scored 4 pts lower").
    timeline: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provenance:
    """How a diagnosis was made, for whoever reads it later: the reprodiag version, the command
    line (its arguments only, secrets redacted), the trainer the retrains ran, the retrain
    budget, the executor, the seeds retrained, and the wall time in seconds."""

    reprodiag_version: str
    command: tuple[str, ...]  # the arguments after the program name; secrets redacted
    wall_seconds: float
    trainer: str | None = None  # module:function or the command template; None: no retrains
    budget: int | None = None  # --max-retrains, when retrains ran
    executor: str | None = None  # serial, processes (N workers), ray (address)
    seeds: tuple[int, ...] = ()  # the seeds retrained, in the order they were first used


@dataclass(frozen=True)
class Diagnosis:
    """Everything a report shows, computed before any renderer runs (reprodiag.diagnosis/v2)."""

    title: str
    created_at: str
    baseline: RunLabel
    candidate: RunLabel
    gap: Gap
    diff: ManifestDiff
    checks: tuple[Check, ...]  # in cost order: done ones first, then the plan still to run
    ranking: tuple[AxisRank, ...]
    fixes: tuple[Fix, ...]
    policy: tuple[TierRule, ...]
    summary: str  # two or three sentences, built from the ranking
    conclusion_open: tuple[str, ...] = ()  # what stays open and what would close it
    band: NoiseBand | None = None
    stop_reason: str | None = None
    warnings: tuple[str, ...] = ()
    incident: IncidentInfo | None = None  # set by `reprodiag report --title/--owner/--timeline`
    conclusion: Conclusion | None = None  # None in manifest-only mode
    bar: Bar | None = None
    spending: tuple[str, ...] = ()  # where the retrain budget went, and why, in order
    format: str = DIAGNOSIS_FORMAT
    # What changed inside the code, environment and data (diagnosis/content.py); left out of the
    # JSON when None, so diagnoses written before it existed load and re-render as before.
    content: ContentDiff | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})
    # How it was made (set by `reprodiag compare`); left out of the JSON when None.
    provenance: Provenance | None = field(default=None, metadata={OMIT_WHEN_DEFAULT: True})

    # For notebooks. The report layer renders (reprodiag/report/notebook.py); it sits above this
    # one, so it is imported by name when a notebook asks, never at import time: the layering
    # stays one-way for everything import-linter checks.
    def _repr_html_(self) -> str:
        """The report's first screen (conclusion, bar, gap, ranked axes) as inline HTML."""
        notebook = importlib.import_module("reprodiag.report.notebook")
        html: str = notebook.first_screen_html(self)
        return html

    # Any: a pandas DataFrame; pandas is imported only when this is called.
    def to_frame(self) -> Any:
        """The ranking as a pandas DataFrame indexed by rank: axis, status, reason, the points
        explained with their interval and check, and the evidence."""
        notebook = importlib.import_module("reprodiag.report.notebook")
        return notebook.ranking_frame(self)

    def to_json(self) -> str:
        """This diagnosis as canonical JSON text (reprodiag.diagnosis/v2), as diagnosis.json
        holds it; `reprodiag.load_diagnosis` reads it back."""
        jsonreport = importlib.import_module("reprodiag.report.jsonreport")
        text: str = jsonreport.diagnosis_to_json(self)
        return text
