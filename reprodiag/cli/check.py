"""`reprodiag check`: gate manifests on their tier (exit 1 when any violates it)."""

from __future__ import annotations

import json
from typing import Any

import click

CHECK_FORMAT = "reprodiag.check/v1"


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
    from reprodiag.errors import InputError, PolicyViolation
    from reprodiag.manifest import load_manifest
    from reprodiag.policy import load_policy
    from reprodiag.policy.check import check_facts, facts_of, manifest_tier, next_steps

    policy = load_policy(policy_file)
    results = []
    for path in manifests:
        manifest = load_manifest(path)
        name = tier if tier is not None else manifest_tier(manifest)
        if name is None:
            raise InputError(
                f"{path}: records no tier (intent.tier is skipped)",
                hint="say which tier to check it against: --tier " + ", ".join(policy.tiers),
            )
        results.append((path, check_facts(policy.tier(name), facts_of(manifest))))
    if as_json:
        click.echo(json.dumps(_json(policy.source, results), indent=2, sort_keys=True))
    else:
        for path, result in results:
            _echo(path, result, next_steps(result))
    failed = [path for path, result in results if not result.passed]
    if failed:  # exit 1 through the CLI's one exit point
        raise PolicyViolation(
            f"{len(failed)} of {len(results)} manifest(s) violate their tier: " + ", ".join(failed)
        )


def _echo(path: str, result: Any, steps: tuple[str, ...]) -> None:
    if result.passed:
        click.echo(f"{path}: PASS tier {result.tier!r}: {result.checked} required fact(s) recorded")
        return
    click.echo(
        f"{path}: FAIL tier {result.tier!r}: {len(result.violations)} of "
        f"{result.checked} required fact(s) not met"
    )
    for v in result.violations:
        click.echo(f"  {v.axis:<11} {v}")
    for step in steps:
        click.echo(f"  next: {step}")


def _json(source: str, results: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "format": CHECK_FORMAT,
        "policy": source,
        "passed": all(r.passed for _, r in results),
        "manifests": [
            {
                "path": path,
                "tier": r.tier,
                "passed": r.passed,
                "checked": r.checked,
                "axes": list(r.axes),
                "violations": [
                    {"axis": v.axis, "path": v.path, "reason": v.reason} for v in r.violations
                ],
            }
            for path, r in results
        ],
    }
