"""NIV2: Super-Natural-Instructions task files, minus MMLU-derived tasks and tasks overlapping held-out benchmarks.

The task definition is the instruction and the task's positive examples are the few-shot exemplars. A task
weighs its real instance count (capped at 5k) when its file is present (`niv2_counts`, recorded once per data
directory); without the file it is declared at the 5k cap.
"""

from tasks.evals.names import BBH_SOURCE_TASKS
from tasks.flan import readers
from tasks.flan.niv2_catalog import NIV2_TASKS
from tasks.flan.readers import Root
from tasks.flan.sources import Source

CAP = 5_000
# Substrings of task names built from held-out benchmarks: MMLU (and its translation, mmmlu), TyDiQA, MGSM.
HELD_OUT_SOURCES: tuple[str, ...] = ("mmlu", "tydiqa", "mgsm")
# BIG-Bench tasks that BBH subtasks come from (BBH is a subset of BIG-Bench); other BIG-Bench tasks are kept.
BBH_SUBTASKS: tuple[str, ...] = BBH_SOURCE_TASKS


def excluded(task: str) -> str | None:
  """Why `task` is left out of the collection, or None if it is kept."""
  name = task.lower()
  for source in HELD_OUT_SOURCES:
    if source in name:
      return f"derived from held-out benchmark data ({source})"
  if "bigbench" in name or "big_bench" in name:
    for subtask in BBH_SUBTASKS:
      if subtask in name:
        return f"overlaps BBH ({subtask})"
  return None


def kept(tasks) -> list[str]:
  return [t for t in tasks if excluded(t) is None]


# The embedded collection's tasks (files under mini/niv2/tasks); the last one must be excluded.
MINI = ("task9001_flanx_unit_conversion", "task9002_flanx_antonyms", "task9003_flanx_sentence_ordering",
        "task9004_mmmlu_answer_generation_flanx_fixture")
MINI_SIZE = 5


def sources(root: Root = readers.data_root) -> list[Source]:
  return [Source("niv2", t, "niv2", readers.Niv2Json(root, t), CAP) for t in kept(NIV2_TASKS)]


def mini_sources(root: Root) -> list[Source]:
  return [Source("niv2", t, "niv2", readers.Niv2Json(root, t, record_counts=False), MINI_SIZE) for t in kept(MINI)]
