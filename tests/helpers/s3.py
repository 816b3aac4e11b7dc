"""A real S3 API on the loopback address for tests: moto's server, started and stopped by a test.

`LocalS3.start()` runs moto's S3 server in its own process (tests/helpers/s3_server.py) on
127.0.0.1 and a free port; `stop()` ends it. Its own process, not a thread of the test: some
deltalake calls (DeltaTable.is_deltatable) hold the GIL while they wait for the network, and a
server in the same process could then never answer. Nothing leaves the machine: the endpoint is
the loopback address, the credentials are dummies that only this server accepts (moto checks no
signature), the EC2 instance-metadata lookup is turned off, and the AWS config and credentials
files point into the test's own folder, so no profile of the person running the tests is read.
Never run a client here without credentials: object_store then asks the instance-metadata
address for some, whatever AWS_EC2_METADATA_DISABLED says. This is the only stand-in in these
tests (S3 itself cannot run here); deltalake, pyiceberg, the CLI and the workers are real.

The server records each request's method, path and If-None-Match header (`requests`), so a test
can show that Delta commits are conditional puts.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCESS_KEY = "reprodiag-test-access-key"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Request:
    """One request the server answered: method, path and its If-None-Match header."""

    method: str
    path: str
    if_none_match: str | None


@dataclass
class LocalS3:
    """moto's S3 on 127.0.0.1:port in a process of its own, with one bucket; `stop()` ends it."""

    home: Path  # the fake AWS config and credentials files and the request log live here
    secret: str = "reprodiag-test-secret"  # noqa: S105 - a dummy only the local server sees
    bucket: str = "reprodiag-team"
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint URL: http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The server's request log, one JSON object a line."""
        return self.home / "requests.jsonl"

    def uri(self, key: str) -> str:
        """s3://BUCKET/key."""
        return f"s3://{self.bucket}/{key}"

    def start(self) -> LocalS3:
        """Start the server, wait until it answers, create the bucket; returns self."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.s3_server", str(self.port), str(self.log)],
            cwd=ROOT,
            env=self.isolated_env(os.environ) | {"PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "ready" once it listens
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the local S3 server did not start: {line!r}")
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        """End the server process and wait for it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()

    @property
    def requests(self) -> list[Request]:
        """Every request answered so far, in order."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [Request(**json.loads(line)) for line in lines if line.strip()]

    def client(self) -> Any:
        """A boto3 S3 client for this server (Any: boto3 ships no types)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=self.secret,
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under prefix in the bucket."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    def storage_options(self, *, credentials: bool = True) -> dict[str, str]:
        """deltalake options for this server (and, in the same dict, pyiceberg's s3.* FileIO
        properties: each library ignores the other's keys)."""
        options = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": REGION,
            "s3.endpoint": self.endpoint,
            "s3.region": REGION,
        }
        if credentials:
            options |= {
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": self.secret,
                "s3.access-key-id": ACCESS_KEY,
                "s3.secret-access-key": self.secret,
            }
        return options

    def isolated_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` without any AWS_ variable of the caller, plus what keeps every AWS client on
        this machine: no instance metadata, config and credentials files of our own (empty)."""
        env = {k: v for k, v in base.items() if not k.startswith(("AWS_", "PYICEBERG_"))}
        config, credentials = self.home / "config", self.home / "credentials"
        for path in (config, credentials):
            if not path.exists():
                path.write_text("")
        return env | {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def credentials_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """isolated_env plus the standard AWS variables for this server: how a team passes
        credentials without any --storage-option."""
        return self.isolated_env(base) | {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.secret,
        }


@contextlib.contextmanager
def running_s3(home: Path, secret: str) -> Iterator[LocalS3]:
    """A started LocalS3 with this secret and its files under `home`, stopped when the block ends
    (the module fixtures of the S3 and Ray cluster tests)."""
    server = LocalS3(home, secret=secret).start()
    try:
        yield server
    finally:
        server.stop()


def write_line_tables(
    s3: LocalS3, prefix: str, *, rows: int = 60, eval_every: int = 3
) -> tuple[str, str]:
    """`prefix/events` (v0: `rows` points of the line y = 2x + 1) and `prefix/eval` (v0: every
    `eval_every`-th of them) as Delta tables in the bucket; their s3:// uris."""
    import pyarrow as pa
    from deltalake import write_deltalake

    options = s3.storage_options()
    events, evaluation = s3.uri(f"{prefix}/events"), s3.uri(f"{prefix}/eval")
    xs = [float(i) for i in range(rows)]
    line = pa.table({"x": xs, "y": [2 * x + 1 for x in xs]})
    write_deltalake(events, line, storage_options=options)
    every = line.take(list(range(0, rows, eval_every)))
    write_deltalake(evaluation, every, storage_options=options)
    return events, evaluation
