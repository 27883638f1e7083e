"""Closing the loop: simulated traffic and feedback, retraining on labelled feedback, rollout."""
