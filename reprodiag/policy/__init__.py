"""The tier policy: which axes each tier enforces, and the facts that make an axis versioned."""

from reprodiag.policy.check import check_manifest, cpu_only, next_steps, require_for_tier
from reprodiag.policy.load import default_policy, find_pyproject, load_policy
from reprodiag.policy.model import Policy, PolicyResult, Tier, Violation

__all__ = [
    "Policy",
    "PolicyResult",
    "Tier",
    "Violation",
    "check_manifest",
    "cpu_only",
    "default_policy",
    "find_pyproject",
    "load_policy",
    "next_steps",
    "require_for_tier",
]
