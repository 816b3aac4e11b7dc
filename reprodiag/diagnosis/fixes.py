"""The structural fix per axis (what to change so the next incident can be closed), and the tier
policy rows for future runs (DESIGN.md "Tier policy").

A fix is chosen by what the diff showed, and only for axes that are not ruled out; the policy is
always listed.
"""

from __future__ import annotations

from collections.abc import Sequence

from reprodiag.diagnosis.model import AxisDiff, AxisRank, Fix, ManifestDiff, TierRule
from reprodiag.policy import Tier, default_policy

_DATA_UNPINNED = Fix(
    axis="data",
    fix="read training and evaluation data through pinned snapshots (Delta version / Iceberg "
    "snapshot id), recorded in the manifest",
    cost="storage for retained versions: vacuum with keep_versions for shipped models",
    enforcement="capture(tier='shipped') refuses to start on unsnapshotted data; "
    "`reprodiag check --tier shipped` in the registry",
)
_DATA_MOVED = Fix(
    axis="data",
    fix="retrain on a new snapshot only as a reviewed data change: keep the baseline's version "
    "readable and compare models on one pinned evaluation snapshot",
    cost="storage for retained versions: vacuum with keep_versions for shipped models",
    enforcement="`reprodiag check --tier shipped` in the registry requires pinned train and eval "
    "snapshots; the eval snapshot is fixed per model family",
)
_RANDOMNESS = Fix(
    axis="randomness",
    fix="seed every generator with reprodiag.deterministic_seeds (python, numpy, torch, cuda) and "
    "record the determinism flags; judge retrains against a seed-noise band",
    cost="throughput: deterministic kernels (up to 2.6x-7x slower on GPU, STATS.md)",
    enforcement="capture(tier='shipped') records all four seeds and the flags; "
    "`reprodiag check --tier shipped` refuses a manifest missing any",
)
_CODE = Fix(
    axis="code",
    fix="record the git commit, the digest of any uncommitted diff and the dependency lock hash; "
    "train shipped models from a clean tree",
    cost="free: hashes",
    enforcement="`reprodiag check --tier debug` (and every tier above) requires commit and lock "
    "hash",
)
_ENVIRONMENT = Fix(
    axis="environment",
    fix="run from a container image pinned by digest and record torch / CUDA / cuDNN versions, "
    "GPU, thread count and precision flags",
    cost="free to record; pinning images costs rebuilds",
    enforcement="`reprodiag check --tier shipped` requires the image digest and library versions",
)
_INTENT = Fix(
    axis="intent",
    fix="record hyperparameters and ablation flags with the run (capture(params=..., "
    "ablations=...)); change them only as a stated hypothesis",
    cost="free",
    enforcement="`reprodiag check` requires params for every tier",
)


def structural_fixes(diff: ManifestDiff, ranking: Sequence[AxisRank]) -> tuple[Fix, ...]:
    """One fix per axis that is not ruled out, in ranking order."""
    axes = {a.axis: a for a in diff.axes}
    return tuple(_fix_for(axes[r.axis]) for r in ranking if r.status != "ruled_out")


def _fix_for(axis: AxisDiff) -> Fix:
    if axis.axis == "data":
        unpinned = any(f.status == "unversioned" for f in axis.fields)
        return _DATA_UNPINNED if unpinned else _DATA_MOVED
    return {
        "randomness": _RANDOMNESS,
        "code": _CODE,
        "environment": _ENVIRONMENT,
        "intent": _INTENT,
    }[axis.axis]


def policy_rows() -> tuple[TierRule, ...]:
    """The tier policy rows, read from reprodiag/policy/defaults.toml (the one source of tiers)."""
    return tuple(_row(name, tier) for name, tier in default_policy().tiers.items())


def _row(name: str, tier: Tier) -> TierRule:
    return TierRule(
        tier=name,
        applies_to=str(tier.applies_to),
        axes=tuple(tier.axes),
        enforcement=str(tier.enforcement),
    )
