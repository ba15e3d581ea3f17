"""Held-out evaluation tasks: MMLU, BBH, TyDiQA-GoldP and MGSM, one seqio task per Table 5 setting.

Names live in `names`; importing registers the tasks and suite mixtures without reading any file.
"""

from tasks.evals import registry  # noqa: F401  registers the seqio tasks and mixtures
