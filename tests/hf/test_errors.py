"""Bad input to `flanx convert` gets one clear line each."""

import json

import pytest
from safetensors.numpy import load_file, save_file

from flanx import cli, convert
from flanx.errors import FlanxError
from tests.hf.conftest import make_hf_dir


def _edit_config(hf_dir, **changes):
  config = json.loads((hf_dir / "config.json").read_text())
  (hf_dir / "config.json").write_text(json.dumps({**config, **changes}))


def test_not_a_checkpoint_directory(tmp_path):
  with pytest.raises(FlanxError, match="not a T5 checkpoint directory"):
    convert.import_hf(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("changes, message", [
    ({"model_type": "bart"}, "unsupported architecture model_type='bart'"),
    ({"feed_forward_proj": "relu"}, "unsupported architecture feed_forward_proj='relu'"),
])
def test_unsupported_architecture(hf_dir, tmp_path, changes, message):
  _edit_config(hf_dir, **changes)
  with pytest.raises(FlanxError, match=message):
    convert.import_hf(hf_dir, tmp_path / "out")


def test_config_shapes_that_do_not_match_the_weights(hf_dir, tmp_path):
  _edit_config(hf_dir, d_ff=96)
  with pytest.raises(FlanxError, match=r"config.json does not match the weights: .*wi_0.weight has shape \(64, 32\)"):
    convert.import_hf(hf_dir, tmp_path / "out")


def test_missing_tensor_is_named(hf_dir, tmp_path, capsys):
  tensors = load_file(hf_dir / "model.safetensors")
  del tensors["decoder.block.2.layer.2.DenseReluDense.wo.weight"]
  save_file(tensors, str(hf_dir / "model.safetensors"))
  assert cli.main(["convert", "from-hf", "--hf_dir", str(hf_dir), "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and "missing tensor decoder.block.2.layer.2.DenseReluDense.wo.weight" in err


def test_to_hf_of_a_directory_without_checkpoint(tmp_path):
  with pytest.raises(FlanxError, match="--checkpoint"):
    convert.export_hf(tmp_path, tmp_path / "out")


def test_pytorch_state_dict_is_read_without_unpickling_code(tmp_path):
  import torch
  hf_dir = make_hf_dir(tmp_path / "hf")
  state = {k: torch.from_numpy(v.copy()) for k, v in load_file(hf_dir / "model.safetensors").items()}
  torch.save(state, hf_dir / "pytorch_model.bin")
  (hf_dir / "model.safetensors").unlink()
  config = convert.import_hf(hf_dir, tmp_path / "out")
  assert (config.num_encoder_layers, config.num_decoder_layers) == (2, 3)
  assert (tmp_path / "out" / "checkpoint_0" / "params").is_dir() and (tmp_path / "out" / "model.gin").is_file()
