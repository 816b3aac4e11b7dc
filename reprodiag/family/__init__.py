"""The reference model family: click events in Delta with realistic drift, and a torch MLP trainer.

The trainer entrypoint is ``reprodiag.family.mlp:train``; torch is imported only by that module, so
importing this package (and the data generator) stays light.
"""

from reprodiag.family.data import (
    append_days,
    correct_labels,
    create_table,
    eval_table_path,
    generate_events,
    train_table_path,
)

TRAINER_ENTRYPOINT = "reprodiag.family.mlp:train"

__all__ = [
    "TRAINER_ENTRYPOINT",
    "append_days",
    "correct_labels",
    "create_table",
    "eval_table_path",
    "generate_events",
    "train_table_path",
]
