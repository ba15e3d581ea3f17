"""Held-out evaluation tasks: MMLU, BBH, TyDiQA-GoldP and MGSM."""
