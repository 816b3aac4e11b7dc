"""A multi-node Ray cluster on this machine for tests: separate `ray start` processes, loopback.

`LocalRayCluster.start()` runs `ray start --head` and then `ray start --address HEAD` for each
further node, each as a process of its own session (so each node's processes form one process
group), with its own CPUs, a custom resource named after the node (a test places work on a chosen
node with it), its own short temp dir under /tmp (Ray's Unix sockets must fit in 107 bytes; a
pytest tmp_path may not) and a loopback address of its own (127.0.0.2, 127.0.0.3, ...: Ray
replaces 127.0.0.1 itself by the machine's routable address, any other 127.x address is kept). So
every node advertises, and every connection between nodes uses, the loopback interface. Ray's
gRPC servers still listen on all interfaces (Ray offers no setting to bind them); nothing in
these tests connects to anything but 127.x addresses.

Every process of the cluster carries a marker variable in its environment (REPRODIAG_RAY_CLUSTER,
inherited by Ray's workers and reprodiag's warm workers alike): `processes()` finds them all
through /proc, `kill_node()` SIGKILLs one node (its process group, then whatever of it is left),
and `stop()` ends everything and waits until nothing with the marker is left. `ray stop` is not
used: it stops every Ray process of the machine by name, other people's included.

`train` is the test trainer the workers run (`tests.helpers.ray_cluster:train`): numpy only,
reads its snapshots from the bucket and leaves marker files saying which node ran which seed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER_ENV = "REPRODIAG_RAY_CLUSTER"  # every process of one cluster carries it, with its id
NODE_ENV = "REPRODIAG_TEST_NODE"  # the node's name, seen by the trainer
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 120.0
# Lost nodes are noticed in about a second instead of Ray's default 15 s or more.
SYSTEM_CONFIG = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # each node's object store: specs and results are tiny


def free_port(host: str) -> int:
    """A TCP port free on `host` right now."""
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class RayNode:
    """One node: its name (also its custom resource), loopback address, temp dir, process group."""

    name: str
    ip: str
    temp_dir: Path
    pgid: int = 0


@dataclass
class LocalRayCluster:
    """A head and further nodes, each `cpus` CPUs and a resource named after it.

    env: the environment every node starts with (the workers' environment on that node), plus
    per-node extras in `node_env`.
    """

    env: Mapping[str, str]
    names: Sequence[str] = ("head", "node_b")
    cpus: int = 1
    node_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cluster_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    nodes: list[RayNode] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        """The head's GCS address, HOST:PORT: what `--address` and RAY_ADDRESS take."""
        return f"{self.nodes[0].ip}:{self.port}"

    def start(self) -> LocalRayCluster:
        """Start the head, then each further node; returns self. Stops what started on failure."""
        try:
            for index, name in enumerate(self.names):
                self._start_node(index, name)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, index: int, name: str) -> None:
        ip = f"127.0.0.{index + 2}"
        temp = Path(tempfile.mkdtemp(prefix=f"rdray-{name}-"))
        node = RayNode(name, ip, temp)
        self.nodes.append(node)
        args = [
            RAY, "start", "--node-ip-address", ip, "--num-cpus", str(self.cpus), "--num-gpus", "0",
            "--resources", json.dumps({name: 1}), "--temp-dir", str(temp),
            "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats",
            "--log-style", "record",
        ]  # fmt: skip
        if index == 0:
            self.port = free_port(ip)
            args += [
                "--head", "--port", str(self.port), "--include-dashboard", "false",
                "--system-config", json.dumps(SYSTEM_CONFIG),
            ]  # fmt: skip
        else:
            args += ["--address", self.address]
        env = {
            **self.env,
            **self.node_env.get(name, {}),
            MARKER_ENV: f"{self.cluster_id}:{name}",
            NODE_ENV: name,
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        # Its own session: the node's daemons stay in this process group after `ray start` exits.
        proc = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        node.pgid = proc.pid
        try:
            out, _ = proc.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise RuntimeError(f"`ray start` for {name} timed out:\n{out[-3000:]}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"`ray start` for {name} failed ({proc.returncode}):\n{out[-3000:]}")

    def node(self, name: str) -> RayNode:
        """The node called `name`."""
        return next(n for n in self.nodes if n.name == name)

    def processes(self, name: str | None = None) -> list[int]:
        """The pids of this cluster's live processes (of one node, when named)."""
        want = f"{MARKER_ENV}={self.cluster_id}:{name or ''}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and any(v.startswith(want) for v in environ.split(b"\0")):
                pids.append(int(entry.name))
        return pids

    def kill_node(self, name: str, wait_s: float = 15.0) -> None:
        """SIGKILL every process of node `name` (its raylet, agents, workers and their children)
        and wait until none is left."""
        node = self.node(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pgid, signal.SIGKILL)
        self._kill_rest(name, wait_s)

    def _kill_rest(self, name: str | None, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while (left := self.processes(name)) and time.monotonic() < deadline:
            for pid in left:  # outside the group: a warm worker has its own session
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        if left:
            raise RuntimeError(f"processes of the Ray cluster left after SIGKILL: {left}")

    def stop(self) -> None:
        """End every node (the others first, the head last), wait until no process of the
        cluster is left, and remove the temp dirs."""
        try:
            for node in reversed(self.nodes):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pgid, signal.SIGKILL)
            self._kill_rest(None, 15.0)
        finally:
            for node in self.nodes:
                shutil.rmtree(node.temp_dir, ignore_errors=True)

    def files_holding(self, needle: str) -> list[str]:
        """Files under the nodes' temp dirs (Ray's logs, its session files) that hold `needle`."""
        hits = []
        for node in self.nodes:
            for path in node.temp_dir.rglob("*"):
                with contextlib.suppress(OSError):
                    if (
                        path.is_file()
                        and not path.is_socket()
                        and needle.encode() in path.read_bytes()
                    ):
                        hits.append(str(path))
        return hits


# ---- the trainer the workers run ---------------------------------------------------------------

HOLD_S = 120.0  # a held seed waits this long at most for its node to be killed


def _mark(folder: Path, name: str) -> None:
    (folder / name).write_text(str(os.getpid()))


def train(ctx: Any) -> Mapping[str, float]:
    """A least-squares fit of y on x read from the bucket, scored with a seed term (numpy only).

    Refuses snapshots that are not in the bucket. params["marks"] (optional) is a folder for
    marker files `NODE-start-SEED` and `NODE-done-SEED`; in it, a file `hold-NODE` makes NODE's
    second seed wait (marker `held-SEED`) until its node is killed, and `wait-for-NODE` makes each
    other node's seeds after its first wait until NODE has finished one (so a band surely spreads
    over both, whichever node the first seed lands on).
    """
    for handle in (ctx.data, ctx.eval_data):
        if not handle.ref.uri.startswith("s3://"):
            raise RuntimeError(f"expected a snapshot in the bucket, got {handle.ref.uri}")
    node = os.environ.get(NODE_ENV, "local")
    marks = Path(str(ctx.params["marks"])) if "marks" in ctx.params else None
    if marks is not None:
        _mark(marks, f"{node}-start-{ctx.seed}")
        finished_here = bool(list(marks.glob(f"{node}-done-*")))
        for other in (p.name.removeprefix("wait-for-") for p in marks.glob("wait-for-*")):
            deadline = time.monotonic() + 60
            while finished_here and other != node and not list(marks.glob(f"{other}-done-*")):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        if (marks / f"hold-{node}").exists() and finished_here:
            _mark(marks, f"held-{ctx.seed}")
            time.sleep(HOLD_S)
            raise RuntimeError(f"node {node} was not killed within {HOLD_S} s")
    from tests.helpers.s3_trainer import line_fit_score

    scores = line_fit_score(ctx)
    if marks is not None:
        _mark(marks, f"{node}-done-{ctx.seed}")
    return scores
