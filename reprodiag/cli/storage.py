"""`--storage-option KEY=VALUE`: object-store options for the commands that read a snapshot or
the band store (capture, diff, compare, noise-band, band-store verify and repair).

The options go to deltalake (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...) and, for
`iceberg://` tables, to the pyiceberg catalog as properties (`uri`, `warehouse`, `s3.endpoint`,
...); each reads the keys it knows and ignores the others, so one set serves both. What is not
given is read the way those libraries always read it: the standard AWS environment variables
variables. deltalake (object_store) does not read AWS profiles itself: when AWS_PROFILE names
one (in the environment or as an option) and no access key is given, its static keys are read
from the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) and
added to the options (`with_aws_profile`). Values are never printed: an error names the option by
its position and its key.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

# Any: the decorator wraps click commands of any signature.
F = TypeVar("F", bound=Callable[..., Any])

HELP = (
    "An object-store option for snapshots and the band store, e.g. AWS_ENDPOINT_URL=http://... "
    "or AWS_REGION=eu-west-1 (repeatable); for iceberg:// tables, catalog properties (uri, "
    "warehouse, s3.endpoint). Credentials are best left to the standard AWS environment "
    "variables or profile; values given here are never written to a file or printed."
)


def storage_option(func: F) -> F:
    """Add a repeatable `--storage-option KEY=VALUE` (parameter `storage_options`)."""
    decorated: F = click.option(
        "--storage-option",
        "storage_options",
        multiple=True,
        metavar="KEY=VALUE",
        help=HELP,
    )(func)
    return decorated


def parse_storage_options(pairs: Iterable[str]) -> dict[str, str]:
    """The pairs as a dict; a malformed one is a usage error that names its position, never its
    text (it may hold a secret)."""
    out: dict[str, str] = {}
    for index, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(
                f"the {_ordinal(index)} one is not KEY=VALUE (its text is not shown: it may be "
                "a secret)",
                param_hint="--storage-option",
            )
        out[key] = value
    return with_aws_profile(out, os.environ)


def with_aws_profile(options: dict[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """`options` plus the static keys of the AWS profile named by AWS_PROFILE (an option first,
    else the environment), when no access key is given either way; unchanged otherwise, and
    unchanged when the environment's profile has no static keys (a profile named by an option
    must have them: a usage error says so)."""
    profile = options.get("AWS_PROFILE") or env.get("AWS_PROFILE")
    if not profile or "AWS_ACCESS_KEY_ID" in options or env.get("AWS_ACCESS_KEY_ID"):
        return options
    path = Path(
        env.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials"
    ).expanduser()
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as exc:
        raise click.UsageError(f"AWS profile {profile!r}: cannot read {path}: {exc}") from None
    keys = ("aws_access_key_id", "aws_secret_access_key")
    if not parser.has_section(profile) or not all(parser.has_option(profile, k) for k in keys):
        if "AWS_PROFILE" not in options:  # only the environment's: local tables need no keys
            return options
        raise click.UsageError(
            f"AWS profile {profile!r} has no static keys in {path} (aws_access_key_id and "
            "aws_secret_access_key); deltalake reads no SSO or assume-role profile: export "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN instead "
            "(`aws configure export-credentials --format env`)"
        )
    found = {
        "AWS_ACCESS_KEY_ID": parser.get(profile, "aws_access_key_id"),
        "AWS_SECRET_ACCESS_KEY": parser.get(profile, "aws_secret_access_key"),
    }
    if parser.has_option(profile, "aws_session_token"):
        found["AWS_SESSION_TOKEN"] = parser.get(profile, "aws_session_token")
    options = {k: v for k, v in options.items() if k != "AWS_PROFILE"}
    return {**found, **options}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
