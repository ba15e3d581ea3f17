"""`flanx bench train --against hf`: phase lines, both speeds and their ratio; bad flags get one line."""

import re

import pytest

from flanx import cli
from flanx.bench import main as bench_main
from flanx.bench import train as bench_train

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_bench_train_against_hf_prints_phases_and_ratio(capsys):
  code = bench_train.main(["--gin_file=models/t5_1_1/tiny.gin", "--gin.NUM_EMBEDDINGS=384", "--batch_size=8",
                           "--inputs_length=16", "--targets_length=8", "--steps=1", "--against=hf"])
  assert code == 0
  out = capsys.readouterr().out
  phases = re.findall(r"^\[bench train\] (\w+)", out, re.M)
  assert phases[0] == "building" and phases[-1] == "timing" and "compiling" in phases, out
  hf = re.search(r"^  seconds/step ([\d.e-]+), tokens/s ([\d,]+), MFU ([\d.]+)%$", out, re.M)
  alternating = re.search(r"^  flanx, alternating: seconds/step ([\d.e-]+), tokens/s", out, re.M)
  ratio = re.search(r"^flanx / Hugging Face: ([\d.]+)x tokens/s$", out, re.M)
  assert hf and alternating and ratio, out
  # The ratio is that of the steps timed alternately, not of the free-running flanx steps timed before.
  assert float(ratio.group(1)) == pytest.approx(float(hf.group(1)) / float(alternating.group(1)), rel=0.02)


@pytest.mark.parametrize("args, message", [
    (["--steps=0"], "--steps=0 must be at least 1"),
    (["--batch_size=-1"], "--batch_size=-1 must be at least 1"),
    (["--num_microbatches=0"], "--num_microbatches=0 must be at least 1"),
    (["--num_microbatches=-2"], "--num_microbatches=-2 must be at least 1"),
    (["--num_microbatches=3"],
     "--batch_size=8 is not divisible by --num_microbatches=3 x the 8 data shards (mesh replica=1, data=8, model=1)"),
])
def test_bench_train_rejects_bad_numbers_in_one_line(capsys, args, message):
  assert cli.run(bench_main, ["train", *args], prog="flanx bench") == 2
  assert capsys.readouterr().err.strip() == f"flanx bench: error: {message}"


def test_bench_against_accepts_only_hf(capsys):
  with pytest.raises(SystemExit):
    bench_train.main(["--against=torch"])
  assert "invalid choice: 'torch'" in capsys.readouterr().err
