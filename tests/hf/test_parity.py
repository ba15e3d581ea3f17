"""flanx's T5 against transformers' on the same random weights: logits, greedy decoding, round trip."""

import json

import jax
import numpy as np
import pytest
import seqio
import torch
from safetensors.numpy import load_file

from flanx import convert
from flanx.models import EncoderDecoderModel, T5Config
from tests.hf.conftest import VOCAB, load_reference, make_hf_dir

SHAPES = {
    # more decoder than encoder layers, the default 32 buckets over distance 128
    "deeper_decoder": dict(num_layers=2, num_decoder_layers=3),
    # few buckets and a short max distance, so a 24-token input reaches the log-spaced and clipped buckets;
    # heads * d_kv != d_model
    "log_buckets": dict(d_model=48, d_kv=16, num_heads=2, d_ff=40, num_layers=1, num_decoder_layers=2,
                        relative_attention_num_buckets=8, relative_attention_max_distance=12),
    # original-T5 style tied head: transformers rescales the decoder output, flanx folds that into the kernel
    "tied_head": dict(num_layers=2, num_decoder_layers=2, untied=False),
}


def _batch(seed: int, batch=3, in_len=24, out_len=10):
  rng = np.random.default_rng(seed)
  inputs = rng.integers(2, VOCAB, (batch, in_len)).astype(np.int32)
  inputs[1, 15:] = 0  # padding: transformers masks it with attention_mask, flanx with tokens > 0
  targets = rng.integers(2, VOCAB, (batch, out_len)).astype(np.int32)
  decoder_inputs = np.concatenate([np.zeros((batch, 1), np.int32), targets[:, :-1]], axis=1)
  return inputs, decoder_inputs, targets


def _flanx(hf_dir, tmp_path, scan_layers=False):
  out = tmp_path / "flanx"
  config = convert.import_hf(hf_dir, out, scan_layers=scan_layers)
  params = convert.load_params_numpy(out)
  return EncoderDecoderModel(config, seqio.ByteVocabulary()), jax.tree.map(jax.numpy.asarray, params)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_logits_match_transformers(tmp_path, shape):
  overrides = dict(SHAPES[shape])
  hf_dir = make_hf_dir(tmp_path / "hf", seed=len(shape), **overrides)
  model, params = _flanx(hf_dir, tmp_path)
  inputs, decoder_inputs, targets = _batch(1)
  with torch.no_grad():
    expected = load_reference(hf_dir)(input_ids=torch.tensor(inputs, dtype=torch.long),
                                      attention_mask=torch.tensor(inputs > 0, dtype=torch.long),
                                      decoder_input_ids=torch.tensor(decoder_inputs, dtype=torch.long)).logits.numpy()
  got = np.asarray(jax.jit(model.logits)(params, {"encoder_input_tokens": inputs, "decoder_input_tokens": decoder_inputs,
                                         "decoder_target_tokens": targets}))
  assert np.abs(expected).max() > 1.0  # the comparison is not between near-zero numbers
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_scanned_import_gives_the_same_logits(hf_dir, tmp_path):
  model, params = _flanx(hf_dir, tmp_path / "a")
  scanned, scanned_params = _flanx(hf_dir, tmp_path / "b", scan_layers=True)
  assert "layers" in scanned_params["encoder"]
  batch = dict(zip(("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens"), _batch(2)))
  np.testing.assert_allclose(np.asarray(jax.jit(scanned.logits)(scanned_params, batch)),
                             np.asarray(jax.jit(model.logits)(params, batch)), atol=1e-5)


def test_greedy_decoding_matches_transformers(hf_dir, tmp_path):
  model, params = _flanx(hf_dir, tmp_path)
  inputs, _, _ = _batch(3, batch=4)
  max_length = 12
  with torch.no_grad():
    # use_cache=False: transformers sizes its cache by the encoder depth, which breaks for 2+3 layers.
    generated = load_reference(hf_dir).generate(
        input_ids=torch.tensor(inputs, dtype=torch.long), attention_mask=torch.tensor(inputs > 0, dtype=torch.long),
        max_new_tokens=max_length, do_sample=False, num_beams=1, use_cache=False).numpy()[:, 1:]  # drop the start
  expected = np.zeros((len(inputs), max_length), np.int32)
  expected[:, :generated.shape[1]] = generated
  got = np.asarray(model.greedy_decode(params, jax.numpy.asarray(inputs), max_length))
  assert len(set(map(tuple, expected))) > 1  # different inputs decode differently
  np.testing.assert_array_equal(got, expected)


def test_round_trip_gives_identical_tensors(hf_dir, tmp_path):
  convert.import_hf(hf_dir, tmp_path / "flanx")
  convert.export_hf(tmp_path / "flanx", tmp_path / "back")
  original, back = load_file(hf_dir / "model.safetensors"), load_file(tmp_path / "back" / "model.safetensors")
  assert set(back) == set(original)
  for name in original:
    np.testing.assert_array_equal(back[name], original[name], err_msg=name)
  config = json.loads((tmp_path / "back" / "config.json").read_text())
  assert (config["num_layers"], config["num_decoder_layers"], config["d_ff"]) == (2, 3, 64)
  # And transformers itself loads the exported directory to the same model.
  reference, exported = load_reference(hf_dir), load_reference(tmp_path / "back")
  ids = torch.tensor(_batch(4)[0], dtype=torch.long)
  with torch.no_grad():
    torch.testing.assert_close(exported(input_ids=ids, decoder_input_ids=ids[:, :5]).logits,
                               reference(input_ids=ids, decoder_input_ids=ids[:, :5]).logits, rtol=0, atol=0)


def test_relative_attention_max_distance_survives_export(tmp_path):
  hf_dir = make_hf_dir(tmp_path / "hf", **SHAPES["log_buckets"])
  convert.import_hf(hf_dir, tmp_path / "flanx")
  convert.export_hf(tmp_path / "flanx", tmp_path / "back")
  assert json.loads((tmp_path / "back" / "config.json").read_text())["relative_attention_max_distance"] == 12
  assert T5Config  # noqa: the import documents which config the gin file binds
