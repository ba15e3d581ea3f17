"""The `flanx` command and the training and data benchmarks."""

import re

import pytest

from flanx import cli
from flanx.bench import train as bench_train


def test_flanx_help_lists_the_commands(capsys):
  assert cli.main(["--help"]) == 0
  out = capsys.readouterr().out
  for command in ("train", "bench"):
    assert re.search(rf"^\s+{command}\s", out, re.M), out


def test_unknown_command_suggests_the_closest(capsys):
  assert cli.main(["trian"]) == 2
  assert "'train'" in capsys.readouterr().err


def test_flanx_train_reports_bad_input_in_one_line(capsys, tmp_path):
  code = cli.main(["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path}'", "--gin.BATCH_SIZE=3"])
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("flanx train: error: BATCH_SIZE=3")


@pytest.mark.parametrize("microbatches, against", [(1, "optax"), (2, None)])
def test_bench_train_prints_throughput_and_mfu(capsys, microbatches, against):
  batch_size = 8 * microbatches  # tests run on 8 devices: every microbatch needs a row per device
  code = bench_train.main(["--gin_file=models/t5_1_1/tiny.gin", "--gin.NUM_EMBEDDINGS=384",
                           f"--batch_size={batch_size}", "--inputs_length=16", "--targets_length=8", "--steps=2",
                           f"--num_microbatches={microbatches}"] + ([f"--against={against}"] if against else []))
  assert code == 0
  out = capsys.readouterr().out
  values = {m.group(1): float(m.group(2).replace(",", "")) for m in
            re.finditer(r"^(seconds/step|tokens/s|MFU)\s+([\d.,]+)", out, re.M)}
  assert set(values) == {"seconds/step", "tokens/s", "MFU"}, out
  assert values["tokens/s"] > 0 and 0 < values["MFU"] < 100
  assert abs(values["tokens/s"] * values["seconds/step"] - batch_size * 24) < 1.0
  assert re.search(r"^host sync every step: [\d.]+ s/step, [\d.]+x the free-running step$", out, re.M), out
  assert f", {microbatches} microbatch(es) per step" in out, out
  if against == "optax":  # the optimizer before T5X's Adafactor, timed in the same process
    assert re.search(r"^flanx's \(T5X's\) Adafactor / optax's: [\d.]+x tokens/s$", out, re.M), out


def test_bench_data_prints_packing_and_resume_seek(capsys):
  from flanx.bench import data as bench_data
  assert bench_data.main(["flanx_demo", "--rows=100", "--vocab=byte"]) == 0
  out = capsys.readouterr().out
  efficiency = {m.group(1): float(m.group(2)) for m in
                re.finditer(r"^\s+(packed|unpacked) .*packing efficiency ([\d.]+)", out, re.M)}
  assert set(efficiency) == {"packed", "unpacked"}, out
  # Short demo strings fill a 2048-token row many times over when packed, one per row when not.
  assert 0 < efficiency["unpacked"] < 0.05 < 0.3 < efficiency["packed"] <= 1.0
  seek = re.search(r"resume seek past 100 packed rows: ([\d.]+) s \(([\d.]+) rows/s", out)
  assert seek and float(seek.group(1)) > 0 and float(seek.group(2)) == pytest.approx(100 / float(seek.group(1)),
                                                                                      rel=0.05), out
