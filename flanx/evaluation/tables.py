"""Markdown tables of one evaluation: the paper's Table 5 row, then per-task and per-language breakdowns."""


def _fmt(x) -> str:
  return "–" if x is None else f"{x:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(r) + " |" for r in rows]
  return "\n".join(lines)


def headline(results: dict, columns: list[str]) -> str:
  """The Table 5 columns for this step; settings not evaluated show '–'."""
  row = results["table5"]
  return _table(["step", *columns], [[str(results["step"]), *(_fmt(row.get(c)) for c in columns)]])


def breakdown(setting: str, metrics: dict) -> str:
  """Per-group scores of one setting (MMLU subjects, BBH subtasks, languages), with random baselines."""
  groups = sorted({k.split("/", 1)[1] for k in metrics if "/" in k})
  keys = sorted({k.split("/", 1)[0] for k in metrics if "/" in k})
  rows = [[g, *(_fmt(metrics.get(f"{k}/{g}")) for k in keys)] for g in groups]
  summary = f"score {_fmt(metrics['score'])}, normalised {_fmt(metrics['normalized'])}, n={int(metrics['count'])}"
  return f"### {setting}\n\n{summary}\n\n" + _table(["group", *keys], rows)


def markdown(results: dict, columns: list[str]) -> str:
  parts = [f"# Held-out evaluation, step {results['step']} ({results['suite']}, {results['split']} split)",
           headline(results, columns)]
  if results.get("overlong"):
    parts.append("Prompts longer than the input length (truncated): " + ", ".join(
        f"{s} {o['over']}/{o['total']}" for s, o in results["overlong"].items()))
  parts += [breakdown(name, s["metrics"]) for name, s in results["settings"].items()]
  return "\n\n".join(parts) + "\n"
