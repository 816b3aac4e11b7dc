"""Gating several manifests at once: `check_manifests`, the library form of `reprodiag check`.

Its CheckReport is written in the versioned `reprodiag.check/v1` format below.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from reprodiag._records import RecordFormat
from reprodiag.errors import InputError
from reprodiag.manifest.load import load_manifest
from reprodiag.manifest.model import Manifest
from reprodiag.policy.check import check_manifest, manifest_tier
from reprodiag.policy.load import load_policy
from reprodiag.policy.model import CHECK_FORMAT, CheckReport, ManifestCheck, Policy

# reprodiag.check/v1: the CheckReport record (policy source, overall pass, one entry per manifest
# with its tier, pass, facts checked, enforced axes and violations).
CHECK = RecordFormat(CHECK_FORMAT, CheckReport)


def check_manifests(
    manifests: Iterable[str | os.PathLike[str] | Manifest],
    tier: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
) -> CheckReport:
    """Check each manifest (a file or a record) against `tier`, in order, into one CheckReport.

    tier: default, the tier each manifest records in intent.tier. policy: a Policy, a policy file
    (TOML, or a pyproject.toml), or None for the project's policy (the nearest pyproject.toml from
    the current folder upward) merged over the defaults. A tier violation is not an error: it is
    in the report (`report.passed` is False). Raises InputError when the policy or a manifest
    cannot be read, a manifest records no tier and none is given, or the tier is unknown.
    """
    chosen = policy if isinstance(policy, Policy) else load_policy(policy)
    checks = []
    for item in manifests:
        if isinstance(item, Manifest):
            path, manifest = f"run {item.run.run_id}", item
        else:
            path, manifest = str(item), load_manifest(item)
        name = tier if tier is not None else manifest_tier(manifest)
        if name is None:
            raise InputError(
                f"{path}: records no tier (intent.tier is skipped)",
                hint="say which tier to check it against: --tier " + ", ".join(chosen.tiers),
            )
        checks.append(ManifestCheck.of(path, check_manifest(manifest, name, chosen)))
    return CheckReport(
        policy=chosen.source, passed=all(c.passed for c in checks), manifests=tuple(checks)
    )
