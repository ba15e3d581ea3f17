"""flanx.inspect, its CLI, the data benchmark's entry point, and the notebook."""

import os
import pathlib

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
  assert cli.main(["inspect", SMALL, "-n", "2", "--vocab", "byte", "--lengths", "10", "--png", str(tmp_path / "l.png")]) == 0
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
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
  finally:
    os.environ["PYTHONPATH"] = env_keep
  assert (tmp_path / "lengths.png").exists()
  outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
  assert "muffin" in outputs and "Error" not in outputs
