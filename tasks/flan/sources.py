"""A source: one dataset of one family, its reader, its task type and its declared size."""

import dataclasses

from flanx.errors import FlanxError
from flanx.templates import TASK_TYPES
from tasks.flan.readers import Reader

# The public collection mixes CoT's and dialog's input-inversion tasks at 0.3 of their parents' rate.
INVERSION_RATE = 0.3


@dataclasses.dataclass(frozen=True)
class Source:
  family: str
  dataset: str
  task_type: str
  reader: Reader
  # Declared training-set size (see docs/data.md): mixing rates come from it, so building a mixture reads no data.
  num_examples: int
  # The dataset the task is made from, where a dataset gives several tasks (a T0-SF prompt's P3 dataset).
  group: str = ""
  # For an input-inversion task (CoT-II, Dialog-II in the public collection): the dataset it inverts. It is
  # mixed at INVERSION_RATE of that dataset's rate and is not a task of its own in the paper's counts.
  inverts: str = ""

  @property
  def source_dataset(self) -> str:
    return self.group or self.dataset

  @property
  def paper_task(self) -> str:
    """The task this source counts as in the paper (an inversion counts as the dataset it inverts)."""
    return self.inverts or self.dataset

  @property
  def rate_scale(self) -> float:
    return INVERSION_RATE if self.inverts else 1.0

  @property
  def formats(self) -> tuple[str, ...]:
    if self.family == "cot":
      return ("cot_zs", "cot_fs")
    if self.family == "niv2":
      return ("zs_noopt", "fs_noopt")
    # Input inversion is one of a Muffin dataset's own templates (flanx.templates.formats), not a format.
    if TASK_TYPES[self.task_type].has_options:
      return ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")
    return ("zs_noopt", "fs_noopt")

  def counted(self) -> int | None:
    """The real number of examples where the reader can count them cheaply (NIV2), else None (declared size)."""
    try:
      return self.reader.count()
    except FlanxError:
      return None  # no data directory: the declared size

  def describe(self) -> str:
    return f"{self.family} source {self.paper_task!r}"  # an inversion task reads its parent's files

  def present(self) -> bool:
    return self.reader.present()

  def where(self) -> str:
    """Where the source's files belong: under the data directory, or relative to it when none is set."""
    try:
      return str(self.reader.root() / self.reader.location())
    except FlanxError:
      return self.reader.location()

  def check(self) -> None:
    """Raises one FlanxError naming this source and where its files belong, if they are absent."""
    self.reader.check(self.describe())
