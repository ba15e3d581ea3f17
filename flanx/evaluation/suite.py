"""What the evaluator runs: a named suite of settings, each one column of the results table and one seqio task
whose examples follow flanx.evaluation.example.

Benchmarks register their suites (tasks/evals/suites.py) and the entry point hands one to
evaluator.evaluate; this package knows no benchmark by name.
"""

import dataclasses

import seqio

from flanx.evaluation import example as example_lib

VALIDATION, TEST = "validation", "test"
NORM_AVG_COLUMN = "Norm. avg"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Setting:
  """One results-table column: a benchmark with one prompting style, as one seqio task."""
  name: str                   # e.g. "mmlu_cot"
  column: str                 # the table's header, e.g. "MMLU-CoT"
  task: str                   # the registered seqio task
  cot: bool = False           # chain of thought: self-consistency samples these
  splits: tuple[str, ...] = (VALIDATION,)

  def examples(self, split: str) -> list[dict]:
    """{'inputs', 'targets', 'meta'} per example of `split`, read from the data now (data_dir.MissingDataFile
    when a file is absent)."""
    source = seqio.get_mixture_or_task(self.task).source
    return [{"inputs": example_lib.as_text(ex["inputs"]), "targets": example_lib.as_text(ex["targets"]),
             "meta": example_lib.meta_of(ex)}
            for ex in source.get_dataset(split=split, shuffle=False).as_numpy_iterator()]


@dataclasses.dataclass(frozen=True)
class Suite:
  """Settings evaluated together, and the table they fill."""
  name: str
  settings: tuple[Setting, ...]
  columns: tuple[str, ...]      # the whole table's columns, in order; settings outside this suite show '–'
  skip_missing: bool = False    # True: a setting whose data file is missing is skipped, naming the file;
                                # False (a benchmark asked for by name): the missing file is an error
