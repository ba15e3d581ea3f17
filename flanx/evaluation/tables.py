"""Markdown tables of one step's evaluation: the results-table row, then per-task and per-language breakdowns."""

from flanx.evaluation.suite import NORM_AVG_COLUMN


def _fmt(x) -> str:
  return "–" if x is None else f"{x:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(r) + " |" for r in rows]
  return "\n".join(lines)


def headline(results: dict, columns: list[str]) -> str:
  """The table's columns for this step: a score, 'missing' (its data file is absent) or '–' (not evaluated)."""
  row = results["table5"]
  missing_columns = {m["column"] for m in results.get("missing", {}).values()}

  def cell(column):
    return "missing" if column in missing_columns and row.get(column) is None else _fmt(row.get(column))
  return _table(["step", *columns], [[str(results["step"]), *(cell(c) for c in columns)]])


def norm_avg_note(results: dict, columns: list[str]) -> str:
  over = results.get("norm_avg_over", [])
  table_columns = [c for c in columns if c != NORM_AVG_COLUMN]
  if not over:
    return f"{NORM_AVG_COLUMN}: no column evaluated."
  if len(over) == len(table_columns):
    return f"{NORM_AVG_COLUMN}: over all {len(over)} columns."
  return (f"{NORM_AVG_COLUMN}: over {len(over)} of {len(table_columns)} columns ({', '.join(over)}); "
          f"not comparable with an average over all {len(table_columns)}.")


def breakdown(setting: str, metrics: dict) -> str:
  """Per-group scores of one setting (MMLU subjects, BBH subtasks, languages), with random baselines."""
  groups = sorted({k.split("/", 1)[1] for k in metrics if "/" in k})
  keys = sorted({k.split("/", 1)[0] for k in metrics if "/" in k})
  rows = [[g, *(_fmt(metrics.get(f"{k}/{g}")) for k in keys)] for g in groups]
  summary = (f"score {_fmt(metrics['score'])} (mean over groups), {_fmt(metrics.get('score_per_example'))} over "
             f"examples; normalised {_fmt(metrics['normalized'])}, n={int(metrics['count'])}")
  return f"### {setting}\n\n{summary}\n\n" + _table(["group", *keys], rows)


def lengths_table(results: dict) -> str:
  """Per setting: the input length, prompts that lost exemplars to fit it (or were cut), the decode budget and
  the outputs that used all of it."""
  prompts, outputs = results.get("prompts", {}), results.get("outputs", {})
  rows = []
  for name in dict.fromkeys([*prompts, *outputs]):
    p, o = prompts.get(name, {}), outputs.get(name, {})
    rows.append([name, str(p.get("input_length", "–")), str(p.get("longest", "–")),
                 f"{p['lost_exemplars']}/{p['total']}" if p else "–", str(p.get("cut", "–")),
                 str(o.get("decode_length", "–")), f"{o['at_budget']}/{o['total']}" if o else "–"])
  return "Lengths (tokens):\n\n" + _table(
      ["setting", "input length", "longest prompt", "lost exemplars", "cut", "decode budget", "hit the budget"], rows)


def markdown(results: dict, columns: list[str]) -> str:
  parts = [f"# Held-out evaluation, step {results['step']} ({', '.join(results['suites'])}; {results['split']} split)",
           headline(results, columns), norm_avg_note(results, columns)]
  if results.get("missing"):
    parts.append("Missing data (not evaluated): " + "; ".join(
        f"{name}: {m['reason']}" for name, m in results["missing"].items()))
  if results.get("other"):
    parts.append("Other settings (not in the table or Norm. avg):\n\n" + _table(
        list(results["other"]), [[_fmt(v) for v in results["other"].values()]]))
  if results.get("prompts") or results.get("outputs"):
    parts.append(lengths_table(results))
  parts += [breakdown(name, s["metrics"]) for name, s in results["settings"].items()]
  return "\n\n".join(parts) + "\n"
