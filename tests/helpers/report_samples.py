"""Diagnosis records built by hand for the report tests (the engine is not needed to render).

`manifest_only()` follows the lesson's case: data ranks first (unversioned), randomness second,
environment third; code and intent are ruled out; no retrains ran. `with_band()` is the same
incident after the retrains: a noise band and an attribution, so the charts are drawn.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reprodiag.diagnosis.model import (
    Attribution,
    AxisDiff,
    AxisRank,
    Bar,
    Check,
    Conclusion,
    Diagnosis,
    FieldDiff,
    Fix,
    Gap,
    IncidentInfo,
    ManifestDiff,
    NoiseBand,
    RetrainRun,
    RunLabel,
    SeedResult,
    TierRule,
)

NOT_RECORDED = {"skipped": "not recorded by the training script"}


def _f(path: str, status: str, baseline: Any, candidate: Any, **kw: Any) -> FieldDiff:
    return FieldDiff(
        path=path,
        axis=path.split(".")[0],
        status=status,  # type: ignore[arg-type]
        baseline=baseline,
        candidate=candidate,
        **kw,
    )


def _diff() -> ManifestDiff:
    data = (
        _f("data.eval.uri", "same", "/lake/churn/eval", "/lake/churn/eval"),
        _f("data.train.format", "same", "delta", "delta"),
        _f("data.train.uri", "same", "/lake/churn/events", "/lake/churn/events"),
        _f(
            "data.train.version",
            "unversioned",
            NOT_RECORDED,
            NOT_RECORDED,
            unversioned_side="both",
            note="read the latest table version: rows may have changed",
        ),
    )
    code = (
        _f("code.commit", "same", "3f2a9c1e", "3f2a9c1e"),
        _f("code.dirty", "same", False, False),
        _f("code.lock.sha256", "same", "9b1d" * 16, "9b1d" * 16),
    )
    env = (
        _f(
            "environment.image_digest",
            "unversioned",
            {"skipped": "not running in a container"},
            "sha256:" + "4e7a" * 16,
            unversioned_side="baseline",
        ),
        _f("environment.python", "same", "3.11.9", "3.11.9"),
        _f("environment.torch_version", "same", "2.3.1", "2.3.1"),
    )
    rand = (
        _f("randomness.deterministic_algorithms", "same", False, False),
        _f(
            "randomness.seeds.numpy",
            "unversioned",
            NOT_RECORDED,
            NOT_RECORDED,
            unversioned_side="both",
        ),
        _f(
            "randomness.seeds.torch",
            "unversioned",
            NOT_RECORDED,
            NOT_RECORDED,
            unversioned_side="both",
        ),
    )
    intent = (
        _f("intent.params.epochs", "same", 20, 20),
        _f("intent.params.lr", "same", 0.001, 0.001),
    )
    noise = (
        _f("run.run_id", "differs", "run-0001", "run-0002", noise=True),
        _f("run.started_at", "differs", "2026-11-23T09:00:00Z", "2026-11-25T09:00:00Z", noise=True),
    )
    return ManifestDiff(
        axes=(
            AxisDiff("data", "unversioned", data),
            AxisDiff("code", "same", code),
            AxisDiff("environment", "unversioned", env),
            AxisDiff("randomness", "unversioned", rand),
            AxisDiff("intent", "same", intent),
        ),
        noise=noise,
        same_family=True,
    )


def _free_checks() -> tuple[Check, ...]:
    return (
        Check(
            1,
            "code",
            "Compare code commit, lock digest and dirty diff",
            "code",
            "free",
            0,
            "done",
            "a different commit, lock file or uncommitted diff",
            "same commit, same lock digest, clean tree on both sides",
            "commit 3f2a9c1e, lock 9b1d…, clean on both",
            "rules_out",
            ("code.commit", "code.lock.sha256", "code.dirty"),
        ),
        Check(
            2,
            "environment",
            "Compare image, GPU, library versions and flags",
            "environment",
            "free",
            0,
            "done",
            "a different image digest, library version or precision flag",
            "every environment fact recorded and equal",
            "libraries equal; the baseline recorded no image digest",
            "unversioned",
            ("environment.image_digest",),
        ),
        Check(
            3,
            "intent",
            "Compare hyperparameters and ablations",
            "intent",
            "free",
            0,
            "done",
            "a changed hyperparameter or ablation flag",
            "identical params and flags",
            "epochs 20, lr 0.001 on both",
            "rules_out",
            ("intent.params",),
        ),
        Check(
            4,
            "data",
            "Compare snapshot references",
            "data",
            "free",
            0,
            "done",
            "different snapshot versions, or no version recorded",
            "both runs pinned to the same readable version",
            "no version recorded on either side: the table was read at its latest version",
            "unversioned",
            ("data.train.version",),
        ),
        Check(
            5,
            "randomness",
            "Were the seeds and determinism flags recorded?",
            "randomness",
            "free",
            0,
            "done",
            "seeds missing or different",
            "all four seeds recorded and equal, deterministic algorithms on",
            "no seed recorded on either side",
            "unversioned",
            ("randomness.seeds",),
        ),
    )


# The pinned-snapshot retrain's seeds: three finished near the baseline, one refused by the
# identity check (the report lists it with its reason and never draws it).
PINNED_RUNS = (
    RetrainRun(100, 90.1, "ok", seconds=39.5),
    RetrainRun(101, 90.5, "ok", seconds=41.25),
    RetrainRun(102, 90.3, "ok", seconds=40.0),
    RetrainRun(
        103,
        None,
        "failed",
        "not the pipeline it stands for: code.commit is 1f2e3d4c5b6a, the pipeline's is "
        "9a8b7c6d5e4f",
        12.0,
    ),
)


def _retrain_checks(done: bool) -> tuple[Check, ...]:
    status = "done" if done else "planned"
    return (
        Check(
            6,
            "seed_replay",
            "Seed replay: retrain with the baseline's seeds",
            "randomness",
            "1 retrain",
            1,
            status,
            "the replay lands near the baseline (91.20)",
            "the replay lands near the candidate (87.20)",
            "87.60: near the candidate, 0.40 pts from it; one draw, so it cannot tell"
            if done
            else None,
            "cant_tell" if done else "not_run",
            ("retrain-6",) if done else (),
            runs=(RetrainRun(1234, 87.6, "ok", seconds=40.2),) if done else (),
        ),
        Check(
            7,
            "pinned_snapshot",
            "Pinned-snapshot retrain on the baseline's data",
            "data",
            "1 retrain",
            1,
            status,
            "the gap closes to within the noise band",
            "the metric stays at the candidate's level",
            "90.30: explains 3.10 of the 4.00 pts, 99 % interval [2.20, 4.00]" if done else None,
            "explains" if done else "not_run",
            ("retrain-7",) if done else (),
            runs=PINNED_RUNS if done else (),
        ),
        Check(
            8,
            "noise_band",
            "Noise band: sequential seed retrains",
            "randomness",
            "3..20 retrains",
            20,
            status,
            "the gap lies inside the band",
            "the baseline lies beyond the band at p < 0.0175",
            "8 seeds: baseline beyond the band, p < 0.001" if done else None,
            "excluded" if done else "not_run",
        ),
    )


FIXES = (
    Fix(
        "data",
        "Read training data through a pinned Delta version; record it in the manifest",
        "storage for retained versions",
        "capture(tier='shipped') refuses an unpinned snapshot",
    ),
    Fix(
        "randomness",
        "Set and record all four seeds; turn deterministic algorithms on",
        "throughput: deterministic kernels run slower",
        "reprodiag check --tier shipped in CI",
    ),
    Fix(
        "environment",
        "Train in a container pinned by image digest",
        "free: hashes",
        "the model registry rejects a manifest without an image digest",
    ),
)
POLICY = (
    TierRule(
        "shipped",
        "serves real traffic",
        ("data", "code", "environment", "randomness", "intent"),
        "model registry: reprodiag check --tier shipped before promotion",
    ),
    TierRule(
        "experimental",
        "sweeps and ablations",
        ("data", "code", "intent"),
        "capture(tier='experimental') before training",
    ),
    TierRule("debug", "a developer's local run", ("code", "intent"), "capture(tier='debug')"),
)


def manifest_only() -> Diagnosis:
    ranking = (
        AxisRank(
            1,
            "data",
            "unversioned",
            "No snapshot version was recorded on either side: the "
            "table may have changed between the runs. First by the prior order.",
            ("data.train.version",),
        ),
        AxisRank(
            2,
            "randomness",
            "unversioned",
            "No seed was recorded: a different seed alone "
            "can move the metric. Second by the prior order.",
            ("randomness.seeds",),
        ),
        AxisRank(
            3,
            "environment",
            "unversioned",
            "The baseline recorded no image digest; every "
            "library version that was recorded is equal.",
            ("environment.image_digest",),
        ),
        AxisRank(
            4,
            "code",
            "ruled_out",
            "Same commit, same lock file, clean tree.",
            ("code.commit", "code.lock.sha256"),
        ),
        AxisRank(
            5, "intent", "ruled_out", "Same hyperparameters and ablation flags.", ("intent.params",)
        ),
    )
    return Diagnosis(
        title="accuracy fell 4.00 pts between churn-mlp runs",
        created_at="2026-11-26T10:15:00Z",
        baseline=RunLabel(
            "baseline",
            "/srv/runs/monday/manifest.json",
            "run-0001",
            "churn-mlp-monday",
            "2026-11-23T09:00:00Z",
        ),
        candidate=RunLabel(
            "candidate",
            "/srv/runs/wednesday/manifest.json",
            "run-0002",
            "churn-mlp-wednesday",
            "2026-11-25T09:00:00Z",
        ),
        gap=Gap("accuracy", "higher", 91.2, 87.2, -4.0, 4.0, "manifests"),
        diff=_diff(),
        checks=_free_checks() + _retrain_checks(done=False),
        ranking=ranking,
        fixes=FIXES,
        policy=POLICY,
        summary="Code and intent are ruled out. Data ranks first: neither run recorded a snapshot "
        "version. Randomness and environment follow; three retrains would settle it.",
        conclusion_open=(
            "Whether the data change explains the gap: run the pinned-snapshot "
            "retrain (check 7) once a snapshot version is known.",
            "How wide the seed noise is: run the noise band (check 8).",
        ),
        stop_reason="manifest-only mode: no retrain budget was given (--retrains 0)",
        warnings=("The baseline's snapshot cannot be re-read: no version was recorded.",),
    )


def with_band() -> Diagnosis:
    base = manifest_only()
    seeds = (87.1, 87.6, 86.9, 87.4, 87.8, 87.2, 87.5, 87.3)
    band = NoiseBand(
        metric="accuracy",
        n=8,
        mean=87.2,
        std=0.28,
        low=86.64,
        high=87.76,
        k=2.0,
        outcome="beyond noise",
        statistic=12.57,
        p_value=0.00002,
        baseline_rank="above all 8 seeds",
        min_detectable_effect=0.95,
        seeds=tuple(SeedResult(100 + i, v, "ok", seconds=41.0) for i, v in enumerate(seeds))
        + (SeedResult(108, None, "failed", reason="CUDA out of memory"),),
        note="Sequential look at n = 8 stopped at the Pocock boundary p < 0.0175.",
    )
    ranking = (
        AxisRank(
            1,
            "data",
            "confirmed",
            "The pinned-snapshot retrain closed 3.10 of the 4.00 pts.",
            ("retrain-7",),
            Attribution("data", 3.1, 2.54, 3.66, "pinned_snapshot"),
        ),
        AxisRank(
            2,
            "randomness",
            "noise",
            "Seed replay moved the metric 0.40 pts, inside the band.",
            ("retrain-6",),
            Attribution("randomness", 0.4, -0.16, 0.96, "seed_replay"),
        ),
        *(dataclasses.replace(r, rank=r.rank) for r in manifest_only().ranking[2:]),
    )
    return dataclasses.replace(
        base,
        ranking=ranking,
        band=band,
        checks=_free_checks() + _retrain_checks(done=True),
        summary="Data is the confirmed cause: a retrain on the baseline's snapshot closes 3.10 of "
        "the 4.00 pts. The baseline lies beyond the seed-noise band (p < 0.001).",
        conclusion_open=(
            "0.50 pts stay unexplained: the environment (image digest) was not "
            "recorded on the baseline.",
        ),
        stop_reason="the gap is explained and no remaining check could change the ranking",
        conclusion=Conclusion(
            "explained",
            "The data change explains 3.10 of the 4.00 pts (99 % interval [2.20, 4.00]).",
        ),
        bar=Bar("not reproduced", "the data change explains 3.10 of the 4.00 pts"),
        spending=(
            "3 × candidate band: the candidate band to its first look (n = 3)",
            "3 × pinned snapshot: the first round of the data swap",
        ),
        warnings=(),
        incident=IncidentInfo(
            title="INC-2291: churn model lost 4 pts on retrain",
            owner="ml-platform",
            timeline=(
                "2026-11-23 09:00 baseline trained and shipped",
                "2026-11-25 09:00 retrain scored 4 pts lower",
                "2026-11-26 10:15 reprodiag compare run",
            ),
        ),
    )


def with_content() -> Diagnosis:
    """with_band() and a content diff of every axis (tests/helpers/content_samples.py)."""
    from tests.helpers.content_samples import with_content as sample

    return sample()


def with_bisection() -> Diagnosis:
    """with_band() with a data and a code bisection path (tests/helpers/i13_samples.py)."""
    from tests.helpers.i13_samples import with_bisection as sample

    return sample()


SAMPLES = {
    "manifest_only": manifest_only,
    "with_band": with_band,
    "with_content": with_content,
    "with_bisection": with_bisection,
}

# Markup a report must never let through raw: a script, an event handler, both quotes, an
# ampersand, a style end. Either payload, if it ran, sets window.__pwned (tests/test_browser.py).
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
EVIL = f"{SCRIPT} {IMG} \"quotes' R&D </style> | `tick` # x"


def hostile() -> Diagnosis:
    """with_band() with EVIL in every user-supplied string a report shows."""
    base = with_band()
    evil_field = _f("intent.params.note", "differs", EVIL, EVIL + "\nsecond line", note=EVIL)
    evil_tags = _f("intent.tags", "differs", [EVIL], [EVIL, "b"])
    axes = tuple(
        dataclasses.replace(a, fields=a.fields + (evil_field, evil_tags))
        if a.axis == "intent"
        else a
        for a in base.diff.axes
    )
    return dataclasses.replace(
        base,
        title=EVIL,
        baseline=dataclasses.replace(base.baseline, run_name=EVIL, path="/srv/" + EVIL),
        candidate=dataclasses.replace(base.candidate, run_name=EVIL, run_id=EVIL),
        gap=dataclasses.replace(base.gap, metric=EVIL),
        diff=dataclasses.replace(base.diff, axes=axes),
        ranking=tuple(dataclasses.replace(r, reason=EVIL, evidence=(EVIL,)) for r in base.ranking),
        checks=tuple(dataclasses.replace(c, title=EVIL, observed=EVIL) for c in base.checks),
        fixes=tuple(dataclasses.replace(f, fix=EVIL) for f in base.fixes),
        policy=tuple(dataclasses.replace(t, applies_to=EVIL, axes=(EVIL,)) for t in base.policy),
        summary=EVIL,
        warnings=(EVIL,),
        conclusion_open=(EVIL,),
        stop_reason=EVIL,
        conclusion=Conclusion("explained", EVIL),
        bar=Bar("not reproduced", EVIL),
        spending=(EVIL,),
        band=dataclasses.replace(
            base.band,
            metric=EVIL,
            note=EVIL,
            seeds=tuple(
                dataclasses.replace(s, reason=EVIL) if s.reason else s for s in base.band.seeds
            ),
        )
        if base.band
        else None,
        incident=IncidentInfo(EVIL, EVIL, (f"2026-11-25 09:00 {EVIL}", EVIL)),
    )
