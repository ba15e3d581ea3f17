"""`flanx bench blocks` at tiny shapes: it runs, reports both blocks, and rejects bad flags."""

import pytest

from flanx.bench import blocks
from flanx.errors import FlanxError


def test_bench_blocks_reports_both_blocks_and_their_ratios(capsys):
  assert blocks.main(["--batch_size=2", "--length=16", "--heads=2", "--head_dim=4", "--embed=8", "--mlp=16",
                      "--steps=2", "--blockwise_batch=2", "--blockwise_length=16", "--block_size=4"]) == 0
  out = capsys.readouterr().out
  assert "attention: attend is " in out and "MLP: gated_mlp is " in out
  assert "blockwise attention: blockwise (4) is " in out and "x attend (medians)" in out
  assert out.count("plain autodiff") == 4  # two timing lines and two ratio lines


@pytest.mark.parametrize("flag", ["--steps=0", "--length=-3", "--heads=0", "--block_size=0"])
def test_bench_blocks_rejects_non_positive_sizes(flag):
  with pytest.raises(FlanxError, match=flag.split("=")[0]):
    blocks.main([flag])


@pytest.mark.parametrize("flag", ["--steps=", "--steps=two", "--mlp=1.5"])
def test_bench_blocks_rejects_malformed_values(flag):
  with pytest.raises(SystemExit):
    blocks.main([flag])


def test_bench_blocks_rejects_a_block_size_that_does_not_divide_the_length():
  with pytest.raises(FlanxError, match="--block_size=3 must divide --blockwise_length=2048"):
    blocks.main(["--block_size=3"])
