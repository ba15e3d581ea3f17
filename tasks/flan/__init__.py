"""The Flan 2022 finetuning collection: Muffin, T0-SF, NIV2 and CoT.

Importing registers the full collection (read from the data directory when a dataset is requested) and the
embedded miniature collection `flan2022_mini` (read from tasks/flan/mini, runs offline). See docs/data.md.
"""

from tasks.flan import registry

registry.register(mini=False)
registry.register(mini=True)
