"""How a snapshot is pinned in time: one of a version or a timestamp, shared by every provider."""

from __future__ import annotations

from datetime import datetime, timezone

from reprodiag.snapshots.interface import SnapshotError


def require_one_pin(fmt: str, uri: str, version: object, as_of: object, exact: str) -> None:
    """Refuse a version and a timestamp together; `exact` names what pins exactly here."""
    if version is not None and as_of is not None:
        raise SnapshotError(
            f"{fmt} {uri}: both version={version!r} and as_of={as_of!r} were given.",
            hint=f"Give one: {exact} pins exactly, as_of picks the one current then.",
        )


def parse_as_of(as_of: str | datetime) -> datetime:
    """UTC datetime; naive times are UTC, as deltalake and the Delta log take them."""
    if isinstance(as_of, datetime):
        when = as_of
    else:
        text = as_of.strip()
        try:  # Python 3.10's fromisoformat does not read a trailing "Z".
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError as exc:
            raise SnapshotError(
                f"as_of {as_of!r} is not an ISO 8601 timestamp.",
                hint='Write it like "2024-05-01T12:00:00Z" or pass a datetime.',
            ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)
