"""CoT: the nine chain-of-thought datasets in Flan's TSV layout (input, target, rationale).

Sizes: the seven files in the public release are counted exactly (../shared/data/README.md); e-SNLI and QED
are not available offline, so their sizes are the remainder of the paper's 74,730 examples, split by our
estimate of the two sets' relative sizes (documented in docs/data.md).
"""

from tasks.flan import readers
from tasks.flan.readers import Root
from tasks.flan.sources import Source

DATASETS: dict[str, int] = {
    "aqua": 2_728, "creak": 6_915, "ecqa": 7_112, "esnli": 36_174, "gsm8k": 7_473, "qasc": 1_084, "qed": 5_113,
    "sensemaking": 6_070, "strategyqa": 2_061,
}
MINI_SIZE = 3


def sources(root: Root = readers.data_root) -> list[Source]:
  return [Source("cot", d, "cot", readers.CotTsv(root, d), n) for d, n in DATASETS.items()]


def mini_sources(root: Root) -> list[Source]:
  return [Source("cot", d, "cot", readers.CotTsv(root, d), MINI_SIZE) for d in DATASETS]
