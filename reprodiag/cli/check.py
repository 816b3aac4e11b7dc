"""`reprodiag check`: gate manifests on their tier (exit 1 when any violates it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reprodiag.policy import CheckReport
    from reprodiag.policy.model import ManifestCheck


@click.command("check")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--tier", help="Check against this tier (default: the tier each manifest records).")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="A TOML policy file (default: [tool.reprodiag.policy] in the nearest pyproject.toml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
def check(
    manifests: tuple[str, ...], tier: str | None, policy_file: str | None, as_json: bool
) -> None:
    """Check that each of MANIFESTS records every fact its tier requires.

    Exit 0 when all pass, 1 when any violates its tier (every missing fact is listed),
    3 when a manifest or the policy cannot be read.
    """
    from reprodiag.errors import PolicyViolation
    from reprodiag.policy import check_manifests

    report = check_manifests(manifests, tier, policy_file)
    click.echo(_json(report) if as_json else _text(report))
    if report.failed:  # exit 1 through the CLI's one exit point
        raise PolicyViolation(
            f"{len(report.failed)} of {len(report.manifests)} manifest(s) violate their tier: "
            + ", ".join(m.path for m in report.failed)
        )


def _text(report: CheckReport) -> str:
    from reprodiag.policy import next_steps

    lines = []
    for m in report.manifests:
        if m.passed:
            recorded = m.checked - len(m.not_applicable)
            lines.append(f"{m.path}: PASS tier {m.tier!r}: {recorded} required fact(s) recorded")
            lines += _unchecked(m)
            continue
        lines.append(
            f"{m.path}: FAIL tier {m.tier!r}: {len(m.violations)} of "
            f"{m.checked} required fact(s) not met"
        )
        lines += [f"  {v.axis:<11} {v}" for v in m.violations]
        lines += [f"  next: {step}" for step in next_steps(m.result)]
        lines += _unchecked(m)
    return "\n".join(lines)


def _unchecked(m: ManifestCheck) -> list[str]:
    """What a result did not check: facts that do not apply to the run, and waived facts."""
    lines = []
    if m.not_applicable:
        lines.append(f"  not applicable to this run: {', '.join(m.not_applicable)}")
    if m.waived:
        lines.append(f"  waived by the policy: {', '.join(m.waived)}")
    return lines


def _json(report: CheckReport) -> str:
    from reprodiag.policy import CHECK

    return json.dumps(CHECK.to_json(report), indent=2, sort_keys=True)
