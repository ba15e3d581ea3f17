"""The Flan 2022 finetuning collection: Muffin, T0-SF, NIV2 and CoT.

Importing registers the full collection from raw sources (read from the data directory when a dataset is
requested), the released pre-rendered collection (`flan2022_released...`, read from the collection
directory) and the embedded miniature collection `flan2022_mini` (read from tasks/flan/mini, runs offline).
See docs/data.md.
"""

from tasks.flan import registry

registry.register(mini=False)
registry.register(mini=True)
registry.register_released()
