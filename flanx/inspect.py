"""Look at a mixture before spending accelerator hours on it: tasks and rates (and the example counts they come
from), formatted examples, lengths, family proportions, the share of each template and format per task in the
first examples, and the Table 3 ladder's task counts. The functions return pandas DataFrames for notebooks;
`flanx inspect MIXTURE` prints the same.
"""

import argparse
import contextlib
import io
import itertools
import pathlib
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from flanx import errors, storage
from flanx.errors import FlanxError, closest

SEQUENCE_LENGTH = {"inputs": 2048, "targets": 512}


def _seqio():
  import seqio  # heavy; imported when a mixture is looked at
  import tasks  # noqa: F401  registers the mixtures
  return seqio


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
  """seqio warns once per uncached task; for thousands of tasks that drowns the output."""
  from absl import logging
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def get(name: str):
  """The registered mixture or task called `name`; a FlanxError with suggestions otherwise."""
  seqio = _seqio()
  if name in seqio.MixtureRegistry.names():
    return seqio.MixtureRegistry.get(name)
  if name in seqio.TaskRegistry.names():
    return seqio.TaskRegistry.get(name)
  flan = [n for n in list(seqio.MixtureRegistry.names()) + list(seqio.TaskRegistry.names()) if n.startswith("flan")]
  raise FlanxError(f"no mixture or task named {name!r}{closest(name, flan)}")


def mixtures(prefix: str = "flan2022") -> list[str]:
  return sorted(n for n in _seqio().MixtureRegistry.names() if n.startswith(prefix))


def rates(name: str) -> pd.DataFrame:
  """One row per task: family, dataset, format, its share of the mixture (rates normalised to 1), and the
  example count the rate comes from with where that comes from ('counted', 'declared', 'cached'; see
  tasks.flan.mixing.examples_used)."""
  from tasks.flan import mixing
  from tasks.flan.registry import TASKS
  seqio = _seqio()
  provider = get(name)
  task_list = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  with _quiet():
    values = [provider.get_rate(t) if isinstance(provider, seqio.Mixture) else 1.0 for t in task_list]
    sizes = [mixing.examples_used(t.name) for t in task_list]
  rows = []
  for task, rate, (examples, size_from) in zip(task_list, values, sizes):
    meta = TASKS.get(task.name)
    rows.append({"task": task.name, "family": meta.family if meta else "", "dataset": meta.dataset if meta else "",
                 "format": meta.fmt if meta else "", "rate": rate, "examples": examples, "size from": size_from})
  df = pd.DataFrame(rows)
  df["rate"] = df["rate"] / df["rate"].sum()
  return df


def _sources(name: str) -> dict[str, set[str]]:
  """Family -> the datasets (T0-SF: prompts) a mixture's tasks are made from."""
  from tasks.flan.registry import TASKS
  seqio = _seqio()
  provider = get(name)
  found: dict[str, set[str]] = {}
  for task in provider.tasks if isinstance(provider, seqio.Mixture) else [provider]:
    meta = TASKS.get(task.name)
    if meta is not None:  # an input-inversion task counts as the dataset it inverts
      found.setdefault(meta.family, set()).add(getattr(meta.source, "paper_task", meta.dataset))
  return found


def task_counts(name: str) -> pd.Series:
  """Tasks per family, counted as the paper does (a dataset, or a T0 prompt; not a dataset x format)."""
  return pd.Series({family: len(datasets) for family, datasets in sorted(_sources(name).items())}, dtype=int)


def ladder() -> pd.DataFrame:
  """The Table 3 ladder: each rung's mixture, its task count and the paper's, and where they differ."""
  from tasks.flan import muffin, names
  rows = []
  for mixture, families in names.LADDER:
    counts = task_counts(mixture)
    paper = sum(names.PAPER_TASKS[f] for f in families)
    notes = []
    if "muffin" in families:
      notes.append(f"muffin {counts['muffin']} of the paper's {names.PAPER_TASKS['muffin']}: "
                   f"{len(muffin.UNREADABLE)} of the collection's datasets have no public release")
    if "niv2" in families:
      notes.append(f"niv2 {counts['niv2']}: the collection's list (the paper says {names.PAPER_TASKS['niv2']})")
    rows.append({"mixture": mixture, "families": "+".join(families), "tasks": int(counts.sum()),
                 "paper tasks": paper, "per family": ", ".join(f"{f} {n}" for f, n in counts.items()),
                 "differences": "; ".join(notes)})
  return pd.DataFrame(rows)


def composition(examples: pd.DataFrame) -> dict[str, pd.DataFrame]:
  """What sampled examples are made of: family shares, and per task the share of each format and template.

  Template ids index the task type's templates; ids from len(templates) on are its input-inversion templates.
  """
  family = examples["family"].value_counts(normalize=True).mul(100).rename("%").to_frame()
  per_task = examples.groupby("task")
  formats = (per_task["format"].value_counts(normalize=True).mul(100).rename("%").reset_index())
  templates = (per_task["template"].value_counts(normalize=True).mul(100).rename("%").reset_index()
               .sort_values(["task", "template"]))
  counts = per_task.size().rename("examples").reset_index()
  return {"family": family, "tasks": counts, "formats": formats, "templates": templates}


def family_shares(name: str, n: int = 20_000, seed: int = 0) -> pd.Series:
  """Family proportions (%) of `n` task draws from the mixture's rates: cheap, needs no data.

  Draws are systematic (one uniform offset, then evenly spaced points on the cumulative rates), the
  low-variance scheme of particle filters: each task's count is within one of n x rate, so 20k draws
  measure the rates to 0.005 points instead of the ~0.35 points of independent draws.
  """
  df = rates(name)
  points = (np.random.default_rng(seed).random() + np.arange(n)) / n
  draws = np.minimum(np.searchsorted(np.cumsum(df["rate"].to_numpy()), points, side="right"), len(df) - 1)
  return (df["family"].iloc[draws].value_counts(normalize=True) * 100).sort_index()


def sample(name: str, n: int = 20, seed: int = 0, sequence_length: dict[str, int] | None = None) -> pd.DataFrame:
  """`n` formatted examples drawn from the mixture, as rows of inputs, targets, task, family, template, format."""
  from tasks.flan.pipeline import METADATA
  seqio = _seqio()
  provider = get(name)
  with _quiet():
    is_mixture = isinstance(provider, seqio.Mixture)
    kwargs = {"copy_pretokenized": True, "passthrough_features": METADATA} if is_mixture else {}
    ds = provider.get_dataset(sequence_length or SEQUENCE_LENGTH, split="train", shuffle=True, seed=seed,
                              num_epochs=None, **kwargs)
    rows = list(itertools.islice(ds.as_numpy_iterator(), n))
  def s(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v
  # Mixtures outside the Flan collection (flanx_demo) carry no metadata features: their columns stay empty.
  return pd.DataFrame([{
      "inputs": s(r["inputs_pretokenized"]), "targets": s(r["targets_pretokenized"]), "task": s(r.get("task", "")),
      "family": s(r.get("family", "")), "template": int(r.get("template", -1)), "format": s(r.get("format", "")),
      "input_tokens": len(r["inputs"]), "target_tokens": len(r["targets"]),
  } for r in rows])


def check_png(png: str) -> None:
  """--png names a file to write in an existing directory, outside any run or checkpoint."""
  path = pathlib.Path(png)
  if path.is_dir():
    raise FlanxError(f"--png={png} is a directory; give a file name, e.g. {path / 'lengths.png'}")
  storage.writable_file("--png", path)  # an existing file is replaced, whole
  if not path.absolute().parent.is_dir():
    raise FlanxError(f"--png={png}: the directory {path.parent} does not exist; create it or give another path")
  errors.output_outside("--png", png)


def length_stats(examples: pd.DataFrame, png: str | pathlib.Path | None = None) -> pd.DataFrame:
  """Token-length statistics of sampled examples (active vocabulary, EOS included); a histogram PNG if asked."""
  stats = examples[["input_tokens", "target_tokens"]].describe(percentiles=[0.5, 0.9, 0.99]).T
  if png is not None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, column in zip(axes, ("input_tokens", "target_tokens")):
      ax.hist(examples[column], bins=40)
      ax.set_title(column.replace("_", " "))
      ax.set_xlabel("tokens")
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png")
    plt.close(fig)
    storage.write_atomic(pathlib.Path(png), image.getvalue(), name="--png")  # whole or not at all
  return stats


def main(argv: Sequence[str]) -> int:
  parser = argparse.ArgumentParser(prog="flanx inspect", description=__doc__.splitlines()[0])
  parser.add_argument("mixture", nargs="?", help="a mixture or task name; omit to list the flan2022 mixtures")
  parser.add_argument("-n", "--examples", type=int, default=5, help="formatted examples to print (0: none)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--lengths", type=int, default=0, help="examples to sample for length statistics")
  parser.add_argument("--composition", type=int, default=0, metavar="N",
                      help="the first N examples' family shares, and each task's shares of formats and templates")
  parser.add_argument("--png", help="where to save the length histogram (with --lengths)")
  from flanx import data_dir  # light; flanx.vocab (seqio, TensorFlow) once the flags are known to be usable
  parser.add_argument("--vocab", choices=data_dir.VOCAB_CHOICES, default="auto",
                      help="auto: DATA_DIR/vocab/spiece.model when present, else bytes")
  parser.add_argument("--allow_partial", "--allow-partial", action="store_true",
                      help="sample a mixture whose sources are partly missing from the present ones "
                           "(ALLOW_PARTIAL_MIXTURE)")
  given_dir, argv = data_dir.split_argv(argv)  # --gin.DATA_DIR, as for the gin commands
  args = parser.parse_args(list(argv))
  if args.examples < 0 or args.lengths < 0 or args.composition < 0:
    raise FlanxError("--examples, --lengths and --composition must be >= 0")
  errors.no_empty_flags(args, "png")
  if args.png is not None:
    check_png(args.png)
  if args.mixture is None:
    print("\n".join(mixtures()))
    with _quiet():
      print(f"\nTable 3 ladder (tasks as the paper counts them):\n{ladder().to_string(index=False)}")
    return 0
  from flanx import vocab
  context, which = vocab.install_for_command(given_dir, args.vocab)
  print(f"flanx inspect: {which}; data directory {context.path or 'unset (embedded fixtures only)'}", flush=True)
  if args.allow_partial:
    import gin
    _seqio()  # registers the configurable
    gin.bind_parameter("allow_partial_mixture.allow", True)
  table = rates(args.mixture)
  counts = task_counts(args.mixture)
  print(f"{args.mixture}: {len(table)} seqio tasks; tasks as the paper counts them: {int(counts.sum())} "
        f"({', '.join(f'{f} {n}' for f, n in counts.items())})")
  print(table.groupby("family")["rate"].sum().mul(100).round(2).to_string())
  for family, group in table[table["size from"] != ""].groupby("family"):
    print(f"{family} sizes: " + ", ".join(f"{n} tasks {how}" for how, n in group["size from"].value_counts().items())
          + (" (NIV2 tasks without their file use the uniform 5,000 fallback)"
             if family == "niv2" and (group["size from"] == "declared").any() else ""))
  print(table.sort_values("rate", ascending=False).head(20).to_string(index=False))
  if args.examples:
    for row in sample(args.mixture, args.examples, args.seed).itertuples():
      print(f"\n--- {row.task} [{row.family} {row.format} template {row.template}]\n{row.inputs}\n=> {row.targets}")
  if args.composition:
    parts = composition(sample(args.mixture, args.composition, args.seed))
    for title, part in parts.items():
      print(f"\n{title} in the first {args.composition} examples:\n{part.to_string(index=title == 'family')}")
  if args.lengths:
    print(f"flanx inspect: sampling {args.lengths} examples for length statistics ...", flush=True)
    print(length_stats(sample(args.mixture, args.lengths, args.seed), args.png).to_string())
    if args.png:
      print(f"flanx inspect: length histogram written to {pathlib.Path(args.png).resolve()}", flush=True)
  return 0
