"""`flanx data status`: which sources of the Flan collection are present in the data directory.

`flanx data cache MIXTURE --out DIR --examples N` writes a mixture to ArrayRecord shards (flanx/input/data_cache.py).
"""

import argparse
from collections.abc import Sequence

from flanx import data_dir


def held_out() -> list[tuple[str, str, bool, str]]:
  """The held-out benchmarks' files (Table 5), in their release layouts under the data directory."""
  from tasks.evals import tydiqa
  root = data_dir.data_dir(required=False)
  if root is None:
    return []
  rows = []
  for name, parts in (("MMLU", ("mmlu", "data")), ("MMLU chain-of-thought prompts", ("mmlu-cot", "mmlu-cot.json")),
                      ("BBH", ("bbh", "bbh")), ("BBH chain-of-thought prompts", ("bbh", "cot-prompts")),
                      ("TyDiQA-GoldP", ("tydiqa", tydiqa.DEV)), ("MGSM", ("mgsm",))):
    path = root.joinpath(*parts)
    present = path.is_file() or (path.is_dir() and any(path.iterdir()))
    rows.append(("held-out", name, present, str(path)))
  return rows


def status(mini: bool = False) -> list[tuple[str, str, bool, str]]:
  """(family, dataset, present, expected location) for every source: the raw sources of each family, then
  (unless `mini`) each template type of each submix of the released collection and the held-out benchmarks."""
  from tasks.flan import registry, released
  # An input-inversion task reads its parent's files: one row for both.
  rows = [(s.family, s.dataset, s.present(), s.where()) for s in registry.sources(mini) if not s.inverts]
  if not mini:
    rows += [(f"released {s.submix}", s.template_type, s.present(), s.where()) for s in released.sources()]
    rows += held_out()
  return rows


def main(argv: Sequence[str]) -> int:
  if argv and argv[0] == "cache":  # `flanx data cache MIXTURE ...`: flanx/input/data_cache.py
    from flanx import cli
    from flanx.input import data_cache
    return cli.run(data_cache.main, argv[1:], prog="flanx data cache")  # its errors say which command
  parser = argparse.ArgumentParser(prog="flanx data", description=__doc__.splitlines()[0])
  parser.add_argument("command", choices=("status",), nargs="?", default="status")
  parser.add_argument("--missing", action="store_true", help="also list each missing source and where it belongs")
  parser.add_argument("--mini", action="store_true", help="check the embedded miniature collection instead")
  given_dir, argv = data_dir.split_argv(argv)
  args = parser.parse_args(list(argv))
  context = data_dir.resolve(given_dir)
  if not args.mini:
    context.require()
  data_dir.install(context)
  rows = status(args.mini)
  families = list(dict.fromkeys(r[0] for r in rows))
  for family in families:
    mine = [r for r in rows if r[0] == family]
    present = [r for r in mine if r[2]]
    print(f"{family:<17} {len(present):>5} / {len(mine):<5} present")
    for r in present:
      print(f"  + {r[1]}")
    if args.missing:
      for r in mine:
        if not r[2]:
          print(f"  - {r[1]}  (expected at {r[3]})")
  return 0
