"""Held-out evaluation: answer extraction, metrics, the normalised average, self-consistency and the runner.

Model-agnostic: the runner (`evaluator.evaluate`) takes seqio-style predict/score functions; see docs/evaluation.md.
"""
