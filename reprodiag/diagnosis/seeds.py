"""What the randomness axis recorded: the four seeds and the determinism flags, side by side.

Check 5 and the randomness placement both read this record, so the observation and the reason use
the same words ("only the torch seed was recorded on the baseline; python, numpy and cuda seeds
were not").

Seeds set by other libraries count too: Lightning's PL_GLOBAL_SEED, an estimator's random_state
or seed recorded by ``run.log_estimator`` (randomness.library_seeding.<name>.<param>), and a seed
logged as a hyperparameter (intent.params.seed, random_state: `is_seed_param`; the diff files those
rows under randomness). A generator whose seed does not apply to a run (the torch and CUDA seeds
of a run without torch: skipped as not_applicable) is not missing, and a run without torch has no
torch determinism flags to turn on: it is deterministic for a fixed seed unless it says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reprodiag.diagnosis.model import FieldDiff
from reprodiag.diagnosis.notes import show
from reprodiag.manifest.codec import skipped_of
from reprodiag.manifest.model import JSONValue

SEEDS = ("python", "numpy", "torch", "cuda")
FLAGS = (
    "deterministic_algorithms",
    "warn_only",
    "cudnn_deterministic",
    "cudnn_benchmark",
    "cublas_workspace_config",
    "pythonhashseed",
    "fill_uninitialized_memory",
    "dataloader_seeding",
)
LIGHTNING_SEED = "randomness.library_seeding.PL_GLOBAL_SEED"
# Hyperparameter names that are seeds (MLflow params, capture(params=...)), compared lowercased.
SEED_PARAM_NAMES = frozenset(
    {"seed", "random_seed", "random_state", "rng_seed", "global_seed", "base_seed", "seed_value"}
)


def is_seed_param(path: str) -> bool:
    """True for a hyperparameter that seeds generators: intent.params.<...>seed or random_state
    (its last key)."""
    if not path.startswith("intent.params."):
        return False
    key = path.rsplit(".", 1)[-1].lower()
    return key in SEED_PARAM_NAMES or key.endswith("_seed")


def _is_library_seed(path: str) -> bool:
    if path == LIGHTNING_SEED or is_seed_param(path):
        return True
    # run.log_estimator writes "<estimator>.<param>"; the env vars have no dot
    key = path.removeprefix("randomness.library_seeding.")
    return key != path and "." in key


def join_words(items: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _known(value: object) -> bool:
    return value is not None and skipped_of(value) is None


@dataclass(frozen=True)
class SeedFacts:
    """The randomness axis's seed rows (python, numpy, torch, cuda), its determinism flag rows,
    and Lightning's PL_GLOBAL_SEED row when recorded."""

    seeds: tuple[FieldDiff, ...]  # python_seed, numpy_seed, torch_seed, cuda_seed
    flags: tuple[FieldDiff, ...]
    lightning: FieldDiff | None = None  # PL_GLOBAL_SEED, left by Lightning's seed_everything
    # seeds set through other libraries: estimators' random_state, seed hyperparameters
    library: tuple[FieldDiff, ...] = ()

    def _side(self, fd: FieldDiff, side: str) -> JSONValue:
        return fd.baseline if side == "baseline" else fd.candidate

    def _applies(self, fd: FieldDiff, side: str) -> bool:
        skipped = skipped_of(self._side(fd, side))
        return skipped is None or skipped.kind != "not_applicable"

    def applicable(self, side: str) -> list[str]:
        """The generators whose seed applies to `side`'s run (torch and cuda do not without
        torch)."""
        return [n for n, fd in zip(SEEDS, self.seeds, strict=True) if self._applies(fd, side)]

    def recorded(self, side: str) -> list[str]:
        """The generators whose seed `side` ("baseline" or "candidate") recorded."""
        return [n for n, fd in zip(SEEDS, self.seeds, strict=True) if _known(self._side(fd, side))]

    def library_seeds(self, side: str) -> list[str]:
        """The seeds other libraries recorded on `side`, as "name value" ("model.random_state
        42"); a seed of None (an unseeded estimator) is not one."""
        rows = [fd for fd in self.library if _known(self._side(fd, side))]
        return [
            f"{_short(fd.path)} {show(self._side(fd, side))}"
            for fd in rows
            if str(self._side(fd, side)) != "None"
        ]

    def lightning_seed(self, side: str) -> str | None:
        """Lightning's global seed on a side that recorded none of the four seeds itself."""
        if self.lightning is None or self.recorded(side):
            return None
        value = self._side(self.lightning, side)
        return str(value) if _known(value) else None

    def differing(self) -> list[str]:
        """The seeds recorded on both sides with different values (library seeds by name)."""
        own = [n for n, fd in zip(SEEDS, self.seeds, strict=True) if fd.status == "differs"]
        return own + [_short(fd.path) for fd in self.library if fd.status == "differs"]

    @property
    def deterministic(self) -> bool:
        """True when both sides ran with deterministic algorithms on, or neither ran torch (its
        determinism flags do not apply: the run is deterministic for a fixed seed)."""
        fd = self.flags[0]  # deterministic_algorithms
        if fd.baseline is True and fd.candidate is True:
            return True
        return not self._applies(fd, "baseline") and not self._applies(fd, "candidate")

    @property
    def ruled_out(self) -> bool:
        """True when every seed and flag is the same on both sides and both ran deterministic:
        seeds cannot explain the gap."""
        rows = self.seeds + self.flags + self.library
        return all(f.status == "same" for f in rows) and self.deterministic

    def words(self) -> str:
        """The seed facts in one line for the report: what is missing per side, which seeds and
        flags differ, and determinism."""
        parts = self._per_side(self._missing_seeds)
        parts.extend(self._seed_values())
        parts.extend(
            f"{_short(fd.path)} differs: {show(fd.baseline)} vs {show(fd.candidate)}"
            for fd in self.library
            if fd.status == "differs"
        )
        parts.extend(self._per_side(self._missing_flags))
        parts.extend(
            f"{n} {show(fd.baseline)} → {show(fd.candidate)}"
            for n, fd in zip(FLAGS, self.flags, strict=True)
            if fd.status == "differs"
        )
        parts.append(self._determinism())
        return "; ".join(p for p in parts if p)

    @staticmethod
    def _per_side(phrase: Callable[[str], str | None]) -> list[str]:
        """One phrase per side, or one for both when the two sides say the same."""
        b, c = phrase("baseline"), phrase("candidate")
        if b and b == c:
            return [f"{b} (on either side)" if b.startswith("no ") else f"{b} (on both sides)"]
        return [f"{p} on the {side}" for side, p in (("baseline", b), ("candidate", c)) if p]

    def _missing_seeds(self, side: str) -> str | None:
        recorded = self.recorded(side)
        applicable = self.applicable(side)
        if set(applicable) <= set(recorded):
            return None
        # seed_everything(n) seeds random, numpy and torch (CPU and CUDA) from n and leaves
        # PL_GLOBAL_SEED=n behind (lightning/fabric/utilities/seed.py): the run was seeded.
        if (seed := self.lightning_seed(side)) is not None:
            return f"seeded by Lightning's seed_everything({seed})"
        if not recorded and (library := self.library_seeds(side)):
            return f"seeded through its libraries: {join_words(library)}"
        if not recorded:
            return "no seed was recorded"
        missing = [n for n in applicable if n not in recorded]
        verb = "seed was" if len(recorded) == 1 else "seeds were"
        return (
            f"only the {join_words(recorded)} {verb} recorded; "
            f"{join_words(missing)} seed{'s were' if len(missing) > 1 else ' was'} not"
        )

    def _missing_flags(self, side: str) -> str | None:
        # a flag that does not apply to the run (torch's, when it did not import torch) is not
        # missing: it could not change its bits
        missing = [
            n
            for n, fd in zip(FLAGS, self.flags, strict=True)
            if self._applies(fd, side) and not _known(self._side(fd, side))
        ]
        if len(missing) == len(FLAGS):
            return "no determinism flag was recorded"
        return f"determinism flags not recorded: {join_words(missing)}" if missing else None

    def _seed_values(self) -> list[str]:
        differing = [
            (n, fd) for n, fd in zip(SEEDS, self.seeds, strict=True) if fd.status == "differs"
        ]
        if differing:
            pairs = {(show(fd.baseline), show(fd.candidate)) for _, fd in differing}
            if len(pairs) == 1:
                b, c = pairs.pop()
                return [f"the seeds differ: {b} vs {c}"]
            return [
                "the seeds differ: "
                + ", ".join(
                    f"{n} {show(fd.baseline)} vs {show(fd.candidate)}" for n, fd in differing
                )
            ]
        if all(f.status == "same" for f in self.seeds):
            known = [f for f in self.seeds if _known(f.baseline)]
            values = {show(f.baseline) for f in known}
            shown = f" ({values.pop()})" if len(values) == 1 else ""
            if len(known) == len(SEEDS):
                return [f"all four seeds recorded and equal{shown}"]
            if known:
                names = [n for n, f in zip(SEEDS, self.seeds, strict=True) if f in known]
                return [f"the {join_words(names)} seeds recorded and equal{shown}"]
        return []

    def _determinism(self) -> str:
        fd = self.flags[0]
        off = [s for s in ("baseline", "candidate") if self._side(fd, s) is False]
        if self.deterministic and fd.baseline is not True:
            return "no torch on either side: deterministic for a fixed seed"
        if self.deterministic:
            return "deterministic algorithms on both sides"
        if off:
            where = "both sides" if len(off) == 2 else f"the {off[0]}"
            return f"deterministic algorithms off on {where}: nondeterministic kernels allowed"
        return ""

    def reason(self, status: str) -> str:
        """Why the randomness axis got `status` ("same", "candidate", "unversioned"), in words,
        with what would settle it."""
        replay = self.lightning_seed("baseline")
        if status == "unversioned" and replay is not None:
            return self.words() + (
                "; the per-generator seeds were not recorded, but seed_everything"
                f"({replay}) replays the baseline's seeding"
            )
        tail = {
            "candidate": "; retrain-based noise band needed to know whether the gap exceeds seed "
            "noise",
            "unversioned": "; the run cannot be replayed exactly, so seed noise cannot be "
            "ruled out",
        }.get(status, "")
        return self.words() + tail


def seed_facts(randomness: Iterable[FieldDiff]) -> SeedFacts:
    """The seed and flag rows of the randomness axis's fields."""
    fields = {f.path: f for f in randomness}
    return SeedFacts(
        seeds=tuple(fields[f"randomness.{n}_seed"] for n in SEEDS),
        flags=tuple(fields[f"randomness.{n}"] for n in FLAGS),
        lightning=fields.get(LIGHTNING_SEED),
        library=tuple(
            f for p, f in sorted(fields.items()) if _is_library_seed(p) and p != LIGHTNING_SEED
        ),
    )


def _short(path: str) -> str:
    """A library seed's name in words: the path without its axis prefix."""
    if path.startswith("intent.params."):
        return "hyperparameter " + path.removeprefix("intent.params.")
    return path.removeprefix("randomness.library_seeding.")
