"""Gating a manifest, or a run about to start, on its tier.

Every required fact must be recorded: neither skipped nor absent, and a mapping (params) not empty.
A few facts are judged by value too; the decisions, and why:

- data.<set>.version: a plain-files snapshot has no versions; its content fingerprint pins it.
- code.dirty: must be recorded. A dirty tree passes only when its diff digest is recorded (two runs
  can then tell whether they had the same uncommitted change), and never at a tier with
  allow_dirty = false (shipped by default): the digest identifies a diff but cannot rebuild the
  code that serves traffic, so shipped code must be a commit.
- randomness.deterministic_algorithms: recording it is what matters (false is a fact the diagnosis
  can use); a tier with require_deterministic = true demands true.
- a fact that does not apply to the run (skipped with kind not_applicable, set by the probe that
  knows: torch facts of a run that never imported torch, GPU facts of a host without a GPU, the
  DataLoader seeding of a run without torch) is never a hole: the run cannot have it. Each fact is
  judged on its own, so a scikit-learn run passes the environment axis on its Python, libraries
  and frameworks while its torch facts are not applicable. Manifests written before the probes
  knew (torch skipped as "torch is not installed", kind failed) are read the same way.
- GPU facts (gpu_*, driver, cuda, cudnn, nccl): a CPU-only run legitimately has none, so their
  skips pass when the run provably used no GPU: a CPU build of torch, no GPU visible, or no NVIDIA
  driver. Any other skip (e.g. "nvidia-ml-py is not installed" next to a CUDA torch) fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reprodiag.errors import InputError, PolicyViolation
from reprodiag.manifest.codec import iter_facts
from reprodiag.manifest.model import JSONValue, Manifest, Skipped, is_known
from reprodiag.policy.model import Policy, PolicyResult, Tier, Violation

if TYPE_CHECKING:
    from typing import TypeAlias

    # Dotted path -> fact, as manifest.codec.iter_facts yields them (a skipped fact as Skipped).
    Facts: TypeAlias = Mapping[str, JSONValue | Skipped]

GPU_FACTS = frozenset(
    {
        "environment.gpu_name",
        "environment.gpu_count",
        "environment.gpu_uuids",
        "environment.driver",
        "environment.cuda_driver",
        "environment.cuda",
        "environment.cudnn",
        "environment.nccl",
    }
)
TORCH_MISSING = "torch is not installed"  # probes/environment.py's reason, kept as written then
_NO_GPU_REASONS = ("no NVIDIA driver", "no GPU", "torch is a build without CUDA", "CPU build")
_SUBTREE = object()  # a path whose facts are recorded one level down (a LockRef, a params mapping)

NEXT_STEPS: Mapping[str, str] = {
    "code": "capture from a git checkout (code_root=..., CLI --code-root) with the changes "
    "committed and a lock file (uv.lock, poetry.lock or requirements.txt) in it",
    "environment": "capture inside the training process where torch is importable (and "
    "nvidia-ml-py on GPU machines); set "
    "REPRODIAG_CONTAINER_IMAGE=<image>@sha256:<digest> when the policy requires "
    "the image",
    "randomness": "seed every generator with reprodiag.deterministic_seeds(seed) and pass "
    "seeds=... to capture (CLI: --seed N --deterministic/--no-deterministic)",
    "intent": "pass params=..., experiment=... and tier=... to capture "
    "(CLI: --param KEY=VALUE, --experiment, --tier)",
}


def facts_of(manifest: Manifest | Facts) -> Facts:
    """Dotted path -> fact, as iter_facts yields them; a mapping passes through unchanged."""
    return dict(iter_facts(manifest)) if isinstance(manifest, Manifest) else manifest


def _lookup(facts: Facts, path: str) -> object:
    """The fact at path (_SUBTREE for a path recorded one level down); a Skipped for a path
    under a skipped record (data.train skipped as a whole); None when nothing is recorded there."""
    if path in facts:
        return facts[path]
    if any(key.startswith(path + ".") for key in facts):
        return _SUBTREE
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        parent = facts.get(".".join(parts[:end]))
        if isinstance(parent, Skipped):
            return parent
    return None


def _problem(value: object) -> str | None:
    if isinstance(value, Skipped):
        return f"skipped: {value.reason}"
    if value is None:
        return "missing"
    if isinstance(value, Mapping) and not value:
        return "empty: nothing recorded"
    return None


def cpu_only(facts: Facts) -> bool:
    """True when the run provably used no GPU, so GPU facts cannot exist."""
    count = facts.get("environment.gpu_count")
    if count == 0:
        return True
    build = facts.get("environment.torch_build")
    version = facts.get("environment.torch_version")
    if (isinstance(build, str) and build.startswith("cpu")) or (
        isinstance(version, str) and version.endswith("+cpu")
    ):
        return True
    return isinstance(count, Skipped) and count.reason.startswith(_NO_GPU_REASONS)


def not_applicable(value: object) -> bool:
    """True for a fact that does not exist for this run: skipped with kind not_applicable, or
    (manifests from before the probes set that kind) because torch is not installed."""
    if not isinstance(value, Skipped):
        return False
    return value.kind == "not_applicable" or value.reason == TORCH_MISSING


def _judge(tier: Tier, axis: str, path: str, facts: Facts) -> str | None:
    """Why the fact fails the tier, or None when it passes."""
    value = _lookup(facts, path)
    problem = _problem(value)
    if problem and not_applicable(value):
        return None
    if problem and path in GPU_FACTS and cpu_only(facts):
        return None
    if problem and axis == "data" and path.endswith(".version"):
        base = path.rsplit(".", 1)[0]
        fingerprint = _lookup(facts, f"{base}.fingerprint")
        if facts.get(f"{base}.format") == "files" and is_known(fingerprint):
            return None
    if problem:
        return problem
    if path == "code.dirty" and value is True:
        if not tier.allow_dirty:
            return (
                f"dirty: uncommitted changes; tier {tier.name!r} requires a clean tree "
                "(a diff digest identifies the change but cannot rebuild the code)"
            )
        if not is_known(_lookup(facts, "code.diff_sha256")):
            return "dirty, and no digest of the uncommitted diff was recorded"
    deterministic = path == "randomness.deterministic_algorithms"
    if deterministic and tier.require_deterministic and value is not True:
        return f"recorded as {value!r}; tier {tier.name!r} requires deterministic algorithms on"
    return None


def check_facts(tier: Tier, facts: Facts) -> PolicyResult:
    """Check a tier against facts by dotted path; the result lists every required fact that is
    missing, skipped or has a value the tier refuses."""
    violations = []
    absent = []
    for axis, path in tier.required_facts:
        reason = _judge(tier, axis, path, facts)
        if reason is not None:
            violations.append(Violation(axis, path, reason))
        elif not_applicable(_lookup(facts, path)):
            absent.append(path)
    return PolicyResult(
        passed=not violations,
        tier=tier.name,
        violations=tuple(violations),
        checked=len(tier.required_facts),
        axes=tier.axes,
        not_applicable=tuple(absent),
        waived=tier.waived,
    )


def manifest_tier(manifest: Manifest) -> str | None:
    """The tier the manifest records in intent.tier, or None when it records none."""
    tier = manifest.intent.tier
    return tier if isinstance(tier, str) else None


def _policy(policy: Policy | None) -> Policy:
    if policy is not None:
        return policy
    from reprodiag.policy.load import load_policy

    return load_policy()


def check_manifest(
    manifest: Manifest, tier: str | None = None, policy: Policy | None = None
) -> PolicyResult:
    """Check a manifest against `tier` (default: the tier it records in intent.tier).

    policy: default, the project's policy (pyproject.toml from the current folder upward) merged
    over the defaults; pass default_policy() to ignore project files.
    """
    name = tier if tier is not None else manifest_tier(manifest)
    if name is None:
        raise InputError(
            f"the manifest of run {manifest.run.run_id} records no tier "
            f"(intent.tier: {_problem(manifest.intent.tier) or 'missing'})",
            hint="say which tier to check it against: --tier shipped, experimental or debug",
        )
    return check_facts(_policy(policy).tier(name), facts_of(manifest))


def next_step(tier: str, violation: Violation) -> str:
    """What to do about a violation, in words, per axis (data names the set)."""
    if violation.axis == "data":
        role = violation.path.split(".")[1] if violation.path.count(".") >= 1 else "train"
        return (
            f"tier {tier!r} requires data.{role} pinned to a snapshot version; read the table "
            f"through reprodiag.snapshots.open_snapshot(...) or pass {role}=... to capture "
            f"(CLI: --{role} URI --{role}-version N)"
        )
    return NEXT_STEPS.get(violation.axis, f"record {violation.path} in the manifest")


def next_steps(result: PolicyResult) -> tuple[str, ...]:
    """What to do about each violation, in words, without repeats."""
    return tuple(dict.fromkeys(next_step(result.tier, v) for v in result.violations))


def require_for_tier(tier: str, facts: Manifest | Facts, policy: Policy | None = None) -> None:
    """Refuse a run, before it trains, that lacks a fact its tier requires.

    facts: the manifest being captured, or a mapping of dotted path -> fact (iter_facts' shape).
    Raises PolicyViolation (exit code 1) listing every failing fact and the next steps.
    """
    result = check_facts(_policy(policy).tier(tier), facts_of(facts))
    if result.passed:
        return
    lines = "\n".join(f"  {v}" for v in result.violations)
    raise PolicyViolation(
        f"tier {tier!r} refuses this run: {len(result.violations)} of {result.checked} required "
        f"fact(s) not met:\n{lines}",
        hint="\n  ".join(next_steps(result)),
    )
