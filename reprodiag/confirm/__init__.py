"""Confirmation by retrains: the layer between the report and the manifest-only engine.

It turns a manifest-only Diagnosis and a retrain budget into retrain specs, runs them through an
executor, judges what they show against the seed-noise band, and returns the Diagnosis with the
verdicts. The engine below it (reprodiag.diagnosis) never retrains.
"""

from reprodiag.confirm.consistency import contradictions
from reprodiag.confirm.options import RetrainOptions, TrainerChoice
from reprodiag.confirm.retrains import cannot_retrain, confirm

__all__ = ["RetrainOptions", "TrainerChoice", "cannot_retrain", "confirm", "contradictions"]
