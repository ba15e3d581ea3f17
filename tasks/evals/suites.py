"""The named suites the evaluator runs, as flanx.evaluation.suite.Suite objects (the entry point resolves a
name here and hands the Suite to evaluator.evaluate).

'flan_heldout' (all six Table 5 settings) skips a setting whose data file is missing, naming the file: TyDiQA
has no public offline copy, and the other five still make a row. A benchmark or setting asked for by name
('tydiqa', 'mmlu_cot') treats a missing file as the usual one-line error.
"""

from flanx.errors import FlanxError, closest
from flanx.evaluation.suite import Suite
from tasks.evals import names

SUITES: dict[str, Suite] = {
    name: Suite(name, tuple(names.SETTINGS_BY_NAME[s] for s in settings), names.COLUMNS,
                skip_missing=name == names.HELDOUT_SUITE)
    for name, settings in names.SUITES.items()
}


def get(name: str) -> Suite:
  """The suite called `name`; an unknown name is a FlanxError with a did-you-mean."""
  if not isinstance(name, str):
    raise FlanxError(f"the evaluation suite must be a name such as {names.HELDOUT_SUITE!r}, got {name!r}")
  if name not in SUITES:
    raise FlanxError(f"unknown evaluation suite or benchmark {name!r}{closest(name, SUITES)}; "
                     f"known: {', '.join(SUITES)}")
  return SUITES[name]
