"""Facts a shell pipeline states on the command line, turned into axis records.

A shell capture runs in its own process, so it cannot see the training process's torch flags:
those are recorded as skipped unless stated with options.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from reprodiag import _toml
from reprodiag.errors import InputError
from reprodiag.manifest.load import SEED_RANGE
from reprodiag.manifest.model import JSONValue, RandomnessAxis, Skipped

GENERATORS = ("python", "numpy", "torch", "cuda")
NOT_VISIBLE = Skipped(
    "captured from a shell: the training process's flags are not visible; "
    "use reprodiag.capture in the training code to record them",
    "not_recorded",
)


def parse_pairs(pairs: Iterable[str], option: str) -> dict[str, str]:
    """KEY=VALUE options into a dict; a malformed one names the option and the expected form."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{option} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def parse_value(text: str) -> JSONValue:
    """A --param value: JSON when it parses (numbers, true, lists), else the plain string."""
    try:
        value: JSONValue = json.loads(text)
        return value
    except ValueError:
        return text


def read_params_file(path: str) -> dict[str, JSONValue]:
    from reprodiag.manifest.load import read_user_file  # a regular file, size-capped

    file = Path(path)
    raw = read_user_file(file, "params file")
    try:
        data = _toml.loads(raw.decode()) if file.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not valid {'TOML' if file.suffix == '.toml' else 'JSON'}: {exc}",
            hint="params files are JSON objects, or TOML when named *.toml",
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object of parameters, found {type(data).__name__}")
    return data


def seeds_from_options(seeds: Iterable[str]) -> dict[str, int]:
    """`--seed 1234` seeds every generator; `--seed torch=1234` names one."""
    out: dict[str, int] = {}
    for item in seeds:
        name, sep, value = item.rpartition("=")
        names = [name] if sep else list(GENERATORS)
        if sep and name not in GENERATORS:
            raise InputError(
                f"--seed {item!r}: unknown generator {name!r}",
                hint="use one of " + ", ".join(GENERATORS) + ", or a bare number for all",
            )
        try:
            number = int(value)
        except ValueError:
            raise InputError(f"--seed {item!r}: {value!r} is not an integer") from None
        if not 0 <= number < SEED_RANGE:  # what validate, torch and every retrain take
            raise InputError(
                f"--seed {item!r}: a seed is an integer in [0, 2**64)", hint="pass e.g. 1234"
            )
        out.update(dict.fromkeys(names, number))
    return out


def shell_randomness(
    seeds: dict[str, int], deterministic: bool | None, pythonhashseed: str | None
) -> RandomnessAxis:
    missing = Skipped("seed not recorded: pass --seed", "not_given")

    def seed(name: str) -> int | Skipped:
        return seeds.get(name, missing)

    flag: bool | Skipped = deterministic if deterministic is not None else NOT_VISIBLE
    return RandomnessAxis(
        python_seed=seed("python"),
        numpy_seed=seed("numpy"),
        torch_seed=seed("torch"),
        cuda_seed=seed("cuda"),
        derivation="stated on the command line of reprodiag capture" if seeds else missing,
        deterministic_algorithms=flag,
        warn_only=NOT_VISIBLE,
        cudnn_deterministic=NOT_VISIBLE,
        cudnn_benchmark=NOT_VISIBLE,
        cublas_workspace_config=NOT_VISIBLE,
        pythonhashseed=pythonhashseed
        if pythonhashseed is not None
        else Skipped("PYTHONHASHSEED not set", "not_given"),
        fill_uninitialized_memory=NOT_VISIBLE,
        dataloader_seeding=NOT_VISIBLE,
    )
