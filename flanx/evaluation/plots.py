"""A PNG of every Table 5 score against training step, drawn from all steps' results.json."""

import io

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402


def score_vs_step(history: dict[int, dict], columns: list[str]) -> bytes:
  """PNG bytes: one line per column (with a marker per step, so a single step still shows)."""
  fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
  for column in columns:
    points = [(step, r["table5"][column]) for step, r in history.items() if r.get("table5", {}).get(column) is not None]
    if points:
      ax.plot(*zip(*points), marker="o", label=column)
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
