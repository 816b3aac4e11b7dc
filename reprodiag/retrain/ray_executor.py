"""RayExecutor: one Ray actor per slot, each holding a warm retrain worker on its node.

Records never travel pickled (STYLE.md): an actor gets each spec as its JSON text and returns the
result as JSON text. On its node the actor keeps a warm worker subprocess (`python -m
reprodiag.retrain.warm`, through a SerialExecutor), exactly as the local executors do, so torch is
imported once per actor and a crash, a leak or a timeout there is one failed seed and a fresh
worker, while the actor lives on. An actor that is lost itself (its Ray worker killed, its node
gone: Ray's RayActorError, NodeDiedError or WorkerCrashedError) takes its warm worker with it
(reprodiag.retrain.lifeline) and a new actor takes its place; the spec it was running never
reported, so nothing of it was recorded, and it runs again on another actor, `retries` times at
most (default once; `retried` lists each retry with Ray's reason). Lost again, it is a failed seed
with Ray's reason. A trainer that fails inside its warm worker is never retried. Actors are kept
across run() calls until close() (or release()), holding their resources meanwhile; there are as
many as the cluster's CPUs (or GPUs, or the custom `resources`) fit `task_cpus` (`task_gpus`), and
a spec goes only to an actor that is up.

Without an address (neither `address` nor RAY_ADDRESS) a local Ray is started (and shut down
again by close() or at exit) with RAY_AUTH_MODE=disabled, usage stats off, no dashboard and its
temp dir under the system temp folder, so nothing is written into the home folder. With one
("auto", "HOST:PORT" or "ray://HOST:PORT") an existing cluster is joined and left running. A Ray
that this process already started is reused as it is. On a cluster, each actor's environment is
its node's (what `ray start` ran with there) plus the thread budget, `env` and the storage options
(which travel with each actor, in Ray's object store, never in a file of reprodiag's); the
workdir and the retrains' output folders must be on storage the nodes share for the manifests to
come back; the results come back either way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprodiag.errors import InputError
from reprodiag.retrain.executor import Closing, OnResult, OnStart, thread_env
from reprodiag.retrain.spec import RetrainResult, RetrainSpec

INSTALL_HINT = "pip install 'reprodiag[ray]'"
CONNECT_TIMEOUT_S = 5.0  # Ray itself waits minutes on an address nobody answers
# Set while a local Ray starts: its processes inherit them. Auth off: a token would go to ~/.ray.
LOCAL_RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
ADDRESS_ENV = "RAY_ADDRESS"  # Ray's own variable: the cluster to join when no address is given


@dataclass(frozen=True)
class Retried:
    """One spec run again because its actor was lost: its label, seed and Ray's reason."""

    label: str
    seed: int
    reason: str

    @property
    def line(self) -> str:
        """In words: 'seed 1000003 (noise-band-seed-1000003) was retried on another actor: ...'."""
        return (
            f"seed {self.seed} ({self.label}) was retried on another actor: its actor was lost "
            f"({self.reason})"
        )


# Any: the ray module and its object refs, imported lazily (ray is an optional extra).
def import_ray() -> Any:
    """The ray module; raises InputError saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise InputError(
            "the ray executor needs Ray, which is not installed",
            hint=f"{INSTALL_HINT}, or use --executor processes",
        ) from None
    return ray


class SlotActor:
    """The Ray actor of one slot: a SerialExecutor (one warm worker) on its node.

    cwd: the workers' folder when it exists on the node (the driver's may not).
    """

    def __init__(
        self,
        workdir: str,
        env: Mapping[str, str],
        storage_options: Mapping[str, str],
        cwd: str | None,
    ) -> None:
        from reprodiag.retrain.executor import SerialExecutor

        folder = Path(cwd) if cwd and os.path.isdir(cwd) else None
        self.executor = SerialExecutor(
            workdir, cwd=folder, env=env, storage_options=storage_options
        )

    def ready(self) -> bool:
        """True once the actor runs (resources granted, constructor done)."""
        return True

    def run(self, spec_json: str, name: str) -> str:
        """One spec (its JSON text) in the warm worker; its result as JSON."""
        spec = RetrainSpec.from_json(spec_json, f"{name}.spec.json")
        return self.executor.run_one(spec, name).to_json()

    def close(self) -> None:
        """End the warm worker."""
        self.executor.close()


class RayExecutor(Closing):
    """Specs on Ray actors, one warm worker each: `task_cpus` CPUs (and `task_gpus` GPUs) each.

    address: the cluster to join; None: RAY_ADDRESS when set, else a local Ray is started with
    `num_cpus` CPUs (default: all).
    resources: custom Ray resources each actor needs ({"gpu_node": 1}): the nodes started with
    them (`ray start --resources`) are the ones that run the retrains.
    retries: how often a spec whose actor was lost runs again on another actor.
    threads: each retrain's thread budget (default task_cpus); it is recorded in the retrain's
    manifest, so it is fixed per executor, never derived from the node a task lands on.
    cwd: the workers' folder when it exists on the node (default: this process's).
    env, storage_options: as for SerialExecutor; they travel with each actor, nothing else does.
    on_start is called as each spec is handed to an actor; on_result from the calling thread as
    each ends.
    """

    workers = 1  # band seeds form one ensemble per call: Ray spreads the calls, not the seeds

    def __init__(
        self,
        workdir: str | Path,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        task_cpus: float = 1,
        task_gpus: float = 0,
        threads: int | None = None,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        storage_options: Mapping[str, str] | None = None,
        resources: Mapping[str, float] | None = None,
        retries: int = 1,
    ) -> None:
        # Absolute: an actor resolves a relative path against its own node's folder (where that
        # node's `ray start` ran), not this process's.
        self.workdir = Path(workdir).absolute()
        self.address = address if address is not None else os.environ.get(ADDRESS_ENV) or None
        self.num_cpus = num_cpus
        self.task_cpus = task_cpus
        self.task_gpus = task_gpus
        self.threads = threads if threads is not None else max(1, int(task_cpus))
        self.cwd = str(cwd) if cwd is not None else os.getcwd()
        self._env = {**dict(env or {}), **thread_env(self.threads)}
        self._storage_options = dict(storage_options or {})
        self.resources = dict(resources or {})
        self.retries = retries
        self.retried: list[Retried] = []  # every retry of a spec whose actor was lost, in order
        self.started_ray = False  # True when this executor started Ray, and so shuts it down
        self._temp_dir: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._actors: list[Any] = []  # alive slot actors, idle or busy or starting
        self._starting: dict[Any, Any] = {}  # ready() ref -> an actor not yet known to be up

    def run(
        self,
        specs: Sequence[RetrainSpec],
        on_result: OnResult | None = None,
        on_start: OnStart | None = None,
    ) -> list[RetrainResult]:
        """Run each spec on a slot actor (on the cluster at `address`, or on a local Ray it
        starts); results in spec order, failures included. A spec goes only to an actor that is
        up: one still waiting for resources (held by another job) never holds a spec back. A spec
        whose actor was lost runs again first, on another actor (`retries`)."""
        ray = self.connect()
        waiting = [(i, spec, 0) for i, spec in enumerate(specs)][::-1]  # popped from the end
        idle = [a for a in self._actors if a not in self._starting.values()]
        pending: dict[Any, tuple[int, RetrainSpec, float, Any, int]] = {}
        results: dict[int, RetrainResult] = {}
        try:
            while waiting or pending:
                while waiting and idle:
                    actor = idle.pop()
                    index, spec, attempt = waiting.pop()
                    if on_start is not None and attempt == 0:
                        on_start(spec)
                    pending[actor.run.remote(spec.to_json(), self._name(spec))] = (
                        index,
                        spec,
                        time.monotonic(),
                        actor,
                        attempt,
                    )
                if waiting and len(self._actors) < self._most_actors(ray):
                    self._new_actor(ray)
                done, _ = ray.wait([*pending, *self._starting], num_returns=1)
                for ref in done:
                    if ref in self._starting:  # an actor is up (or could not start)
                        actor = self._starting.pop(ref)
                        if _started(ray, ref):
                            idle.append(actor)
                        else:
                            self._drop(ray, actor)
                        continue
                    index, spec, at, actor, attempt = pending.pop(ref)
                    result, alive, lost = _collect(ray, ref, spec, at)
                    if alive:
                        idle.append(actor)
                    else:  # lost with its warm worker: a new actor takes the slot
                        self._drop(ray, actor)
                    if lost is not None and attempt < self.retries:
                        # It never reported, so nothing of it was recorded: run it again first.
                        self.retried.append(Retried(spec.label, spec.seed, lost))
                        waiting.append((index, spec, attempt + 1))
                        continue
                    results[index] = result
                    if on_result is not None:
                        on_result(result)
        finally:
            for _, _, _, actor, _ in pending.values():  # interrupted: the actor and its worker go
                self._drop(ray, actor)
        return [results[i] for i in range(len(specs))]

    def _most_actors(self, ray: Any) -> int:
        """As many actors as the cluster's live resources fit (at least one)."""
        resources = ray.cluster_resources()
        fits = resources.get("CPU", 1) // self.task_cpus if self.task_cpus > 0 else 1
        if self.task_gpus > 0:
            fits = min(fits, resources.get("GPU", 0) // self.task_gpus)
        for name, amount in self.resources.items():
            if amount > 0:
                fits = min(fits, resources.get(name, 0) // amount)
        return max(1, int(fits))

    def _new_actor(self, ray: Any) -> Any:
        actor_class = ray.remote(SlotActor).options(
            num_cpus=self.task_cpus,
            num_gpus=self.task_gpus,
            resources=self.resources or None,
            max_restarts=0,
            max_task_retries=0,
        )
        actor = actor_class.remote(str(self.workdir), self._env, self._storage_options, self.cwd)
        self._actors.append(actor)
        self._starting[actor.ready.remote()] = actor
        return actor

    def _drop(self, ray: Any, actor: Any) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        for ref, starting in list(self._starting.items()):
            if starting == actor:
                del self._starting[ref]
        with contextlib.suppress(Exception):  # already dead
            ray.kill(actor, no_restart=True)

    def connect(self) -> Any:
        """Join `address`, reuse this process's Ray, or start a local one; returns the module."""
        ray = import_ray()
        if self.address is not None:
            check_reachable(self.address)
        if ray.is_initialized():
            return ray
        if self.address is not None:
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, OSError) as exc:
                raise _unreachable(self.address, exc) from None
            return ray
        self._start_local(ray)
        return ray

    def release(self) -> None:
        """End the slot actors (and their warm workers): each holds its `task_cpus` CPUs (and
        `task_gpus` GPUs) while it lives, idle or not. Ray stays up; a later run() starts new
        actors."""
        if self._actors:
            import ray

            if ray.is_initialized():
                for actor in list(self._actors):
                    self._drop(ray, actor)
        self._actors.clear()
        self._starting.clear()

    def close(self) -> None:
        """End the slot actors (release()); shut Ray down if this executor started it; a joined
        or reused Ray is left running."""
        self.release()
        if not self.started_ray:
            return
        import ray

        ray.shutdown()
        self.started_ray = False
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def _start_local(self, ray: Any) -> None:
        # Short path under the system temp folder: Ray's sockets live in it (AF_UNIX: 107 bytes).
        self._temp_dir = tempfile.mkdtemp(prefix="reprodiag-ray-")
        env = {**LOCAL_RAY_ENV, "RAY_TMPDIR": self._temp_dir}
        self._saved_env = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            ray.init(
                num_cpus=self.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                _temp_dir=self._temp_dir,
            )
        except BaseException:
            self.started_ray = True  # restore the environment and remove the temp dir
            self.close()
            raise
        self.started_ray = True
        atexit.register(self.close)


def _collect(
    ray: Any, ref: Any, spec: RetrainSpec, submitted: float
) -> tuple[RetrainResult, bool, str | None]:
    """The result of one actor call, whether its actor is still usable, and, when the actor was
    lost (its worker or node gone, not an error of the task), Ray's reason in words."""
    try:
        text = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the actor died: a failed seed, with Ray's word
        reason = str(exc).strip().splitlines()
        words = f"{type(exc).__name__}: {reason[0] if reason else ''}"[:1000]
        failed = RetrainResult.failed(
            spec, f"ray task failed: {words}"[:2000], time.monotonic() - submitted
        )
        lost = (
            ray.exceptions.RayActorError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.WorkerCrashedError,
        )
        return failed, False, words if isinstance(exc, lost) else None
    return RetrainResult.from_json(text, f"ray result of {spec.label}"), True, None


def _started(ray: Any, ref: Any) -> bool:
    try:
        ray.get(ref)
    except ray.exceptions.RayError:
        return False
    return True


def check_reachable(address: str) -> None:
    """A TCP connect to HOST:PORT (or ray://HOST:PORT) first: Ray would wait minutes instead."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return  # "auto" fails at once by itself; other forms are Ray's to judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise _unreachable(address, exc) from None


def _unreachable(address: str, exc: BaseException) -> InputError:
    return InputError(
        f"cannot reach the Ray cluster at {address}: {exc}",
        hint="check the address (HEAD:6379, or ray://HEAD:10001 for Ray Client), "
        "start a cluster with `ray start --head`, or leave --address out to "
        "run on a local Ray",
    )
