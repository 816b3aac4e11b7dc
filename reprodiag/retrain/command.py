"""A trainer given as a command template: `python train.py --seed {seed} --data {snapshot_uri}`.

Safety rules (no user value reaches a shell, STYLE.md):
- The template is a list of arguments. A template typed as one string (CLI `--command`) is split
  with shlex.split *before* substitution, so a substituted value is never split again.
- Each placeholder is replaced inside its own argument, in one pass over the template text (values
  are never scanned again, so a path containing "{seed}" stays literal). `{{` and `}}` give
  literal braces; any other `{name}` that is not a known placeholder is refused up front; braces
  that do not enclose a name (JSON such as '{"a": 1}') are left as they are.
- A value that would start an argument with `-` (and so read as an option) is refused: the
  retrain fails with the reason, unless the argument comes after a `--` in the template (passed
  as is: an operand), or the placeholder follows the option's own text (`--data={snapshot_uri}`).
- The command runs with subprocess.run(argv, shell=False); its stdin is closed.

Contract: reprodiag writes the hyperparameters as a JSON object to {params_file}; the command
seeds itself from {seed}, reads exactly {snapshot_uri} at {snapshot_version}, and writes its
metrics as a JSON object ({"auc": 81.2}) to {metrics_file}. A non-zero exit is a failed retrain.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from reprodiag._atomic import atomic_write_text
from reprodiag.errors import InputError
from reprodiag.manifest.model import JSONValue, SnapshotRef, is_known
from reprodiag.retrain.interface import RetrainFailed
from reprodiag.retrain.template import render

if TYPE_CHECKING:
    from reprodiag.retrain.spec import RetrainSpec

PARAMS_FILE = "reprodiag-params.json"
METRICS_FILE = "reprodiag-metrics.json"


def _version(ref: SnapshotRef) -> str:
    if is_known(ref.version):
        return str(ref.version)
    return str(ref.fingerprint) if is_known(ref.fingerprint) else ""


def values_for(
    spec: RetrainSpec, *, device: str, params_file: Path, metrics_file: Path
) -> dict[str, str]:
    """The values a command trainer's {placeholders} are filled with: seed, snapshot and eval uri
    and version, the params and metrics file paths, output_dir and device. A version is ""
    when unknown."""
    return {
        "seed": str(spec.seed),
        "snapshot_uri": spec.train.uri,
        "snapshot_version": _version(spec.train),
        "eval_uri": spec.eval.uri,
        "eval_version": _version(spec.eval),
        "params_file": str(params_file),
        "metrics_file": str(metrics_file),
        "output_dir": spec.output_dir,
        "device": device,
    }


def run_command(spec: RetrainSpec, *, device: str) -> JSONValue:
    """Run the spec's command; return the metrics file it wrote, parsed, for the worker to check
    (a JSON object of metric names to numbers). Raises RetrainFailed."""
    assert spec.command is not None, "not a command trainer"
    output_dir = Path(spec.output_dir)
    params_file, metrics_file = output_dir / PARAMS_FILE, output_dir / METRICS_FILE
    atomic_write_text(params_file, json.dumps(dict(spec.params), sort_keys=True, indent=2) + "\n")
    metrics_file.unlink(missing_ok=True)  # a stale file must not pass for this run's metrics
    try:
        argv = render(
            spec.command,
            values_for(spec, device=device, params_file=params_file, metrics_file=metrics_file),
        )
    except InputError as exc:  # a value that would read as an option (template.render)
        raise RetrainFailed(exc.message, hint=exc.hint) from None
    try:
        completed = subprocess.run(argv, shell=False, check=False, stdin=subprocess.DEVNULL)
    except (OSError, ValueError) as exc:  # not found, not executable, a NUL byte in an argument
        raise RetrainFailed(
            f"cannot start the command {argv[0]!r}: {exc}",
            hint="check the program name and that it is on PATH",
        ) from None
    if completed.returncode != 0:
        raise RetrainFailed(
            f"the command exited with code {completed.returncode}: {shlex.join(spec.command)[:200]}"
        )
    try:
        metrics: JSONValue = json.loads(metrics_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RetrainFailed(
            f"the command exited 0 but wrote no metrics to {metrics_file}",
            hint='write a JSON object such as {"auc": 81.2} to {metrics_file}',
        ) from None
    except (OSError, ValueError) as exc:
        raise RetrainFailed(
            f"cannot read the metrics the command wrote to {metrics_file}: {exc}",
            hint='write a JSON object such as {"auc": 81.2}',
        ) from None
    return metrics
