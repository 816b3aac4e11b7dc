"""Retraining: the trainer contract (retrain executors arrive with the noise band)."""
