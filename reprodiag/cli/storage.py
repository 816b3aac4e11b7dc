"""`--storage-option KEY=VALUE`: object-store options for the commands that read a snapshot or
the band store (capture, diff, compare, noise-band, band-store verify and repair).

The options go to deltalake (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...) and, for
`iceberg://` tables, to the pyiceberg catalog as properties (`uri`, `warehouse`, `s3.endpoint`,
...); each reads the keys it knows and ignores the others, so one set serves both. What is not
given is read the way those libraries always read it: the standard AWS environment variables
and profiles. Values are never printed: an error names the option by its position and its key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
