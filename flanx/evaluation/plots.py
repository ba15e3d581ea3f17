"""A PNG of every results-table score against training step, drawn from all steps' results.json."""

import io

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt

from flanx.evaluation.suite import NORM_AVG_COLUMN


def _norm_avg_series(history: dict[int, dict], columns: list[str]) -> dict[str, list[tuple[int, float]]]:
  """Norm. avg points, one series per set of columns it was taken over (averages over different columns are
  different quantities, so they are never joined by a line)."""
  series: dict[str, list[tuple[int, float]]] = {}
  for step, r in history.items():
    value, over = r.get("table5", {}).get(NORM_AVG_COLUMN), r.get("norm_avg_over", columns)
    if value is not None:
      label = NORM_AVG_COLUMN
      if len(over) < len(columns):
        label += f" ({len(over)}/{len(columns)}: {', '.join(over)})"
      series.setdefault(label, []).append((step, value))
  return series


def score_vs_step(history: dict[int, dict], columns: list[str]) -> bytes:
  """PNG bytes: one line per column and for Norm. avg (a marker per step, so a single step still shows)."""
  fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
  for column in columns:
    points = [(step, r["table5"][column]) for step, r in history.items() if r.get("table5", {}).get(column) is not None]
    if points:
      ax.plot(*zip(*points), marker="o", label=column)
  for label, points in _norm_avg_series(history, columns).items():
    ax.plot(*zip(*points), marker="s", linestyle="--", label=label)
  ax.set_xlabel("training step")
  ax.set_ylabel("score (%)")
  ax.set_title("Held-out evaluation")
  ax.grid(alpha=0.3)
  if ax.lines:
    ax.legend(fontsize="small")
  buf = io.BytesIO()
  fig.savefig(buf, format="png", bbox_inches="tight")
  plt.close(fig)
  return buf.getvalue()
