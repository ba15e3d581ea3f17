"""CoT: the nine chain-of-thought datasets in Flan's TSV layout (input, target, rationale), each with its
input-inversion task.

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


def _with_inversion(root: Root, dataset: str, size: int) -> list[Source]:
  """The dataset, and its input-inversion task (question, reasoning, or both with the answer, recovered from the
  other parts: the public collection's CoT-II tasks), mixed at INVERSION_RATE of its rate."""
  reader = readers.CotTsv(root, dataset)
  return [Source("cot", dataset, "cot", reader, size),
          Source("cot", f"{dataset}_input_inversion", "cot_inversion", reader, size, inverts=dataset)]


def sources(root: Root = readers.data_root) -> list[Source]:
  return [s for d, n in DATASETS.items() for s in _with_inversion(root, d, n)]


def mini_sources(root: Root) -> list[Source]:
  return [s for d in DATASETS for s in _with_inversion(root, d, MINI_SIZE)]
