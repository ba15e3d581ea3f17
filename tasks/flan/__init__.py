"""The Flan 2022 finetuning collection: Muffin, T0-SF, NIV2 and CoT."""
