"""The tier policy: which axes each tier enforces, and the facts that make an axis versioned."""

from reprodiag.policy.check import check_manifest, cpu_only, next_steps, require_for_tier
from reprodiag.policy.load import default_policy, find_pyproject, load_policy
from reprodiag.policy.model import (
    CHECK_FORMAT,
    CheckReport,
    ManifestCheck,
    Policy,
    PolicyResult,
    Tier,
    Violation,
)
from reprodiag.policy.report import CHECK, check_manifests

__all__ = [
    "CHECK",
    "CHECK_FORMAT",
    "CheckReport",
    "ManifestCheck",
    "Policy",
    "PolicyResult",
    "Tier",
    "Violation",
    "check_manifest",
    "check_manifests",
    "cpu_only",
    "default_policy",
    "find_pyproject",
    "load_policy",
    "next_steps",
    "require_for_tier",
]
