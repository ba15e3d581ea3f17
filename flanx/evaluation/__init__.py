"""Held-out evaluation: answer extraction, metrics, the normalised average, self-consistency and the runner.

Model- and benchmark-agnostic: the runner (`evaluator.evaluate`) takes a `suite.Suite` (the benchmarks register
theirs in tasks/evals/suites.py; nothing here imports `tasks`) and seqio-style predict/score functions; see
docs/evaluation.md.
"""
