"""Telling object-store uris from local paths, and recording each the way it can be found again."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

# Schemes whose uris are recorded exactly as given and never touched with os.path: the object
# stores delta-rs and pyarrow reach (https://delta-io.github.io/delta-rs/integrations/object-storage/).
OBJECT_STORE_SCHEMES = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "adl", "abfs", "abfss", "azure", "hdfs", "http", "https"}
)


def is_object_store(uri: str | os.PathLike[str]) -> bool:
    text = os.fspath(uri)
    return "://" in text and text.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES


def normalize_uri(uri: str | os.PathLike[str]) -> str:
    """Object-store uris as given; local paths (and file:// uris) as absolute paths, so a ref
    recorded in one working directory can be reopened from another."""
    text = os.fspath(uri)
    if is_object_store(text):
        return text
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    return os.path.abspath(os.path.expanduser(text))


def local_path(uri: str) -> str | None:
    """The local path a uri names, or None for an object store (which os.path cannot check)."""
    if is_object_store(uri):
        return None
    return normalize_uri(uri)
