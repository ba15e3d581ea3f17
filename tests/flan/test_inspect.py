"""flanx.inspect, its CLI, the data benchmark's entry point, and the notebook."""

import os
import pathlib
import re

import pytest
import seqio

from flanx import cli, inspect, vocab
from flanx.errors import FlanxError
from tasks.flan import names

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


def test_rates_sum_to_one_and_list_every_task():
  table = inspect.rates(names.MINI)
  assert table["rate"].sum() == pytest.approx(1.0)
  assert set(table["family"]) == set(names.FAMILIES)
  assert len(table) == len(seqio.get_mixture_or_task(names.MINI).tasks)


# One format of one family: 9 tasks build in a fraction of the time of the whole mini mixture.
SMALL = names.family_mixture("cot", "cot_zs", mini=True)


def test_length_stats_and_histogram(tmp_path):
  df = inspect.sample(SMALL, n=30, seed=1)
  stats = inspect.length_stats(df, tmp_path / "h.png")
  assert (tmp_path / "h.png").stat().st_size > 1000
  assert stats.loc["input_tokens", "max"] == df["input_tokens"].max()
  assert stats.loc["input_tokens", "count"] == 30


def test_unknown_mixture_is_a_one_line_error():
  with pytest.raises(FlanxError, match="did you mean 'flan2022_proportion_b'"):
    inspect.get("flan2022_proportion_bb")


def test_cli(capsys, tmp_path):
  args = ["inspect", SMALL, "-n", "2", "--vocab", "byte", "--lengths", "10", "--png", str(tmp_path / "l.png")]
  assert cli.main(args) == 0
  out = capsys.readouterr().out
  assert f"{SMALL}:" in out and "=>" in out and (tmp_path / "l.png").exists()
  assert cli.main(["inspect", "no_such_mixture", "--vocab", "byte"]) == 2
  assert "no mixture or task named" in capsys.readouterr().err


def test_bench_data_reports_its_figures(capsys):
  from flanx.bench import data
  m = data.measure(SMALL, pack=True, rows=3)
  assert 0 < m["efficiency"] <= 1 and m["examples/s"] > 0


def test_notebook_runs(tmp_path):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  nb = nbformat.read(REPO / "notebooks/inspect_mixture.ipynb", as_version=4)
  env_keep = os.environ.get("PYTHONPATH", "")
  os.environ["PYTHONPATH"] = f"{REPO}:{env_keep}" if env_keep else str(REPO)
  try:
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
  finally:
    os.environ["PYTHONPATH"] = env_keep
  assert (tmp_path / "lengths.png").exists()
  outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
  assert "muffin" in outputs and "Error" not in outputs
  # Its first cell quiets start-up (flanx/quiet.py): TensorFlow's C++ lines would land in the cell's output.
  assert not re.search(r"absl::InitializeLog|cudart_stub|cuInit|[IWE]0000 ", outputs), outputs[:3000]


def test_composition_gives_each_tasks_format_and_template_shares():
  import pandas as pd
  rows = [("a", "muffin", "zs_opt", 0), ("a", "muffin", "zs_opt", 10), ("a", "muffin", "fs_opt", 0),
          ("b", "cot", "cot_zs", 3)]
  parts = inspect.composition(pd.DataFrame(rows, columns=["task", "family", "format", "template"]))
  assert parts["family"]["%"].to_dict() == {"muffin": 75.0, "cot": 25.0}
  formats = parts["formats"].set_index(["task", "format"])["%"]
  assert formats[("a", "zs_opt")] == pytest.approx(200 / 3) and formats[("b", "cot_zs")] == 100
  templates = parts["templates"].set_index(["task", "template"])["%"]
  assert templates[("a", 0)] == pytest.approx(200 / 3) and templates[("a", 10)] == pytest.approx(100 / 3)
  assert parts["tasks"].set_index("task")["examples"].to_dict() == {"a": 3, "b": 1}


def test_cli_prints_composition_sizes_and_the_ladder(capsys):
  assert cli.main(["inspect", SMALL, "-n", "0", "--composition", "12", "--vocab", "byte"]) == 0
  out = capsys.readouterr().out
  assert "tasks as the paper counts them: 9 (cot 9)" in out  # 18 seqio tasks: the nine and their inversions
  assert "cot sizes: 18 tasks declared" in out
  for part in ("family", "tasks", "formats", "templates"):
    assert f"{part} in the first 12 examples:" in out
  assert cli.main(["inspect"]) == 0
  out = capsys.readouterr().out
  assert "Table 3 ladder" in out and "1833" in out and "1836" in out
