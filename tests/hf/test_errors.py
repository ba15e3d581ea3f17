"""Bad input to `flanx convert` gets one clear line each."""

import json
import pathlib

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


@pytest.mark.parametrize("keep", [5, 100, -40])  # inside the size field, inside the header, inside the data
def test_a_truncated_safetensors_file_is_one_line(hf_dir, tmp_path, capsys, keep):
  weights = hf_dir / "model.safetensors"
  data = weights.read_bytes()
  weights.write_bytes(data[:keep])
  assert cli.main(["convert", "from-hf", "--hf_dir", str(hf_dir), "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and f"{weights} is truncated" in err and "download or copy it again" in err, err
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("changes, message", [
    ({"num_heads": 0}, r"config.json: T5Config.num_heads=0 must be at least 1"),
    ({"d_kv": -8}, r"config.json: T5Config.head_dim=-8 must be at least 1"),
    ({"torch_dtype": "int8"}, r"config.json: dtype 'int8' is not float32, bfloat16 or float16"),
])
def test_config_values_flanx_cannot_build_are_one_line(hf_dir, tmp_path, changes, message):
  _edit_config(hf_dir, **changes)
  with pytest.raises(FlanxError, match=message):
    convert.import_hf(hf_dir, tmp_path / "out")


@pytest.mark.parametrize("changes, dtype", [
    ({}, "float32"),  # transformers loads a config without a dtype in float32
    ({"torch_dtype": "float32"}, "float32"),
    ({"dtype": "bfloat16"}, "bfloat16"),  # transformers 5's spelling
    ({"torch_dtype": "float16"}, "bfloat16"),  # T5 overflows float16
])
def test_activation_dtype_comes_from_the_checkpoint(changes, dtype):
  from flanx.hf import t5_mapping
  hf_config = {"model_type": "t5", "feed_forward_proj": "gated-gelu", "vocab_size": 64, "d_model": 32,
               "num_heads": 4, "d_kv": 8, "d_ff": 64, "num_layers": 2, **changes}
  config = t5_mapping.config_from_hf(hf_config, "hf")
  assert config.dtype == dtype
  assert f"ACTIVATION_DTYPE = '{dtype}'" in convert.model_gin(config, None, pathlib.Path("hf"))
