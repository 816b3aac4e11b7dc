"""The tier policy as records: tiers, the facts each enforced axis requires, and check results.

A tier names the reproducibility axes it enforces (DESIGN.md, "Tier policy"); an axis counts as
versioned when every fact the tier requires for it is recorded (see check.py for the few facts
whose value matters too: a clean tree, deterministic algorithms, a pinned snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reprodiag.errors import InputError
from reprodiag.manifest.model import OMIT_WHEN_DEFAULT


@dataclass(frozen=True)
class Tier:
    """One tier: what counts as it, which axes it enforces, where, and the facts each axis needs."""

    name: str
    applies_to: str  # in the user's words, e.g. "serves real traffic"
    axes: tuple[str, ...]  # the enforced axes, in AXES order
    enforcement: str  # the enforcement point, in words
    requirements: Mapping[str, tuple[str, ...]]  # axis -> dotted manifest paths; enforced axes only
    require_deterministic: bool = False  # randomness.deterministic_algorithms must be true
    allow_dirty: bool = True  # a dirty tree passes when its diff digest is recorded
    waived: tuple[str, ...] = ()  # facts the policy file waived for this tier ([tiers.X] waive)

    @property
    def required_facts(self) -> tuple[tuple[str, str], ...]:
        """(axis, path) for every fact this tier requires, in axis order."""
        return tuple((axis, path) for axis in self.axes for path in self.requirements.get(axis, ()))


@dataclass(frozen=True)
class Policy:
    """The tier policy in force: the tiers by name, and the file they were read from."""

    tiers: Mapping[str, Tier]
    source: str = "built-in defaults"  # the file it was read from, for messages

    def tier(self, name: str) -> Tier:
        """The tier called `name`; raises InputError naming the known tiers when there is none."""
        try:
            return self.tiers[name]
        except KeyError:
            known = ", ".join(self.tiers)
            raise InputError(
                f"unknown tier {name!r} in the policy from {self.source}",
                hint=f"use one of: {known}; or add [tiers.{name}] to the policy",
            ) from None


@dataclass(frozen=True)
class Violation:
    """A fact the tier requires that the manifest does not record (or records with a bad value)."""

    axis: str
    path: str
    reason: str  # e.g. "skipped: read as latest; no version recorded", "missing"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class PolicyResult:
    """The outcome of checking one manifest against a tier: passed, the violations, how many
    required facts were checked, and the axes the tier enforces."""

    passed: bool
    tier: str
    violations: tuple[Violation, ...] = ()
    checked: int = 0  # how many required facts were checked
    axes: tuple[str, ...] = field(default=())  # the axes the tier enforces
    # required facts that passed because they do not apply to the run (kind not_applicable)
    not_applicable: tuple[str, ...] = ()
    waived: tuple[str, ...] = ()  # facts the policy waived for this tier

    @property
    def failed_axes(self) -> tuple[str, ...]:
        """The axes with at least one violation, in the order the violations list them."""
        return tuple(dict.fromkeys(v.axis for v in self.violations))


CHECK_FORMAT = "reprodiag.check/v1"


@dataclass(frozen=True)
class ManifestCheck:
    """One manifest's outcome in a CheckReport: where it was read from, and its tier's result."""

    path: str  # the file given, or "run <run id>" for a manifest passed as a record
    tier: str
    passed: bool
    checked: int  # how many required facts were checked
    axes: tuple[str, ...]  # the axes the tier enforces
    violations: tuple[Violation, ...]
    # Required facts that do not apply to this run, and facts the policy waived: listed so a
    # pass says what it did not check. Left out of the JSON when empty (reprodiag.check/v1).
    not_applicable: tuple[str, ...] = field(default=(), metadata=OMIT_WHEN_DEFAULT)
    waived: tuple[str, ...] = field(default=(), metadata=OMIT_WHEN_DEFAULT)

    @classmethod
    def of(cls, path: str, result: PolicyResult) -> ManifestCheck:
        """The outcome of `result` for the manifest at `path`."""
        return cls(
            path=path,
            tier=result.tier,
            passed=result.passed,
            checked=result.checked,
            axes=result.axes,
            violations=result.violations,
            not_applicable=result.not_applicable,
            waived=result.waived,
        )

    @property
    def result(self) -> PolicyResult:
        """The tier's result, as check_manifest returns it."""
        return PolicyResult(
            self.passed,
            self.tier,
            self.violations,
            self.checked,
            self.axes,
            self.not_applicable,
            self.waived,
        )


@dataclass(frozen=True)
class CheckReport:
    """Manifests gated on their tier (`reprodiag check`): the policy used and each outcome."""

    policy: str  # where the policy was read from, e.g. "built-in defaults"
    passed: bool  # every manifest meets its tier
    manifests: tuple[ManifestCheck, ...]
    format: str = CHECK_FORMAT

    @property
    def failed(self) -> tuple[ManifestCheck, ...]:
        """The manifests that violate their tier."""
        return tuple(m for m in self.manifests if not m.passed)
