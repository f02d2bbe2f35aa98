"""Evaluation: metrics, benchmark harness and pictures."""
