"""flanx's T5 against transformers' on the same random weights: logits, greedy decoding, round trip.

Each random checkpoint is built, imported and exported once per module (conversion and orbax writes dominate
the run time); every test then reads the converted model.
"""

import dataclasses
import functools
import json
import pathlib

import jax
import numpy as np
import pytest
import seqio
import torch
from safetensors.numpy import load_file

from flanx import convert, decoding
from flanx.models import EncoderDecoderModel
from tests.hf.conftest import VOCAB, load_reference, make_hf_dir

SHAPES = {
    # more decoder than encoder layers, the default 32 buckets over distance 128, gated-GELU, untied head
    "deeper_decoder": dict(num_layers=2, num_decoder_layers=3),
    # few buckets and a short max distance, so a 24-token input reaches the log-spaced and clipped buckets;
    # heads * d_kv != d_model
    "log_buckets": dict(d_model=48, d_kv=16, num_heads=2, d_ff=40, num_layers=1, num_decoder_layers=2,
                        relative_attention_num_buckets=8, relative_attention_max_distance=12),
    # original-T5 style tied head: transformers rescales the decoder output, flanx folds that into the kernel
    "tied_head": dict(num_layers=2, num_decoder_layers=2, untied=False),
}


@dataclasses.dataclass
class Converted:
  shape: str
  hf_dir: pathlib.Path
  flanx_dir: pathlib.Path
  exported_dir: pathlib.Path
  model: EncoderDecoderModel
  params: dict
  reference: torch.nn.Module

  @functools.cached_property
  def logits(self):
    return jax.jit(self.model.logits)


@pytest.fixture(scope="module", params=list(SHAPES))
def converted(request, tmp_path_factory) -> Converted:
  shape = request.param
  root = tmp_path_factory.mktemp(shape)
  hf_dir = make_hf_dir(root / "hf", seed=len(shape), **SHAPES[shape])
  config = convert.import_hf(hf_dir, root / "flanx")
  convert.export_hf(root / "flanx", root / "back")
  params = jax.tree.map(jax.numpy.asarray, convert.load_params_numpy(root / "flanx"))
  return Converted(shape, hf_dir, root / "flanx", root / "back", EncoderDecoderModel(config, seqio.ByteVocabulary()),
                   params, load_reference(hf_dir))


def _batch(seed: int, batch=3, in_len=24, out_len=10):
  rng = np.random.default_rng(seed)
  inputs = rng.integers(2, VOCAB, (batch, in_len)).astype(np.int32)
  inputs[1, 15:] = 0  # padding: transformers masks it with attention_mask, flanx with tokens > 0
  targets = rng.integers(2, VOCAB, (batch, out_len)).astype(np.int32)
  decoder_inputs = np.concatenate([np.zeros((batch, 1), np.int32), targets[:, :-1]], axis=1)
  return inputs, decoder_inputs, targets


def _features(inputs, decoder_inputs, targets):
  return {"encoder_input_tokens": inputs, "decoder_input_tokens": decoder_inputs, "decoder_target_tokens": targets}


def test_logits_match_transformers(converted):
  inputs, decoder_inputs, targets = _batch(1)
  with torch.no_grad():
    expected = converted.reference(input_ids=torch.tensor(inputs, dtype=torch.long),
                                   attention_mask=torch.tensor(inputs > 0, dtype=torch.long),
                                   decoder_input_ids=torch.tensor(decoder_inputs, dtype=torch.long)).logits.numpy()
  got = np.asarray(converted.logits(converted.params, _features(inputs, decoder_inputs, targets)))
  assert np.abs(expected).max() > 1.0  # the comparison is not between near-zero numbers
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_greedy_decoding_matches_transformers(converted):
  inputs, _, _ = _batch(3, batch=4)
  max_length = 12
  with torch.no_grad():
    # use_cache=False: transformers sizes its cache by the encoder depth, which breaks for 2+3 layers.
    generated = converted.reference.generate(
        input_ids=torch.tensor(inputs, dtype=torch.long), attention_mask=torch.tensor(inputs > 0, dtype=torch.long),
        max_new_tokens=max_length, do_sample=False, num_beams=1, use_cache=False).numpy()[:, 1:]  # drop the start
  expected = np.zeros((len(inputs), max_length), np.int32)
  expected[:, :generated.shape[1]] = generated
  # flanx's KV-cached greedy decoding, the path every command uses.
  greedy = jax.jit(lambda p, x: decoding.sample_tokens(converted.model, p, x, max_length, decoding.Sampling(),
                                                       jax.random.key(0))[0])
  got = np.asarray(greedy(converted.params, inputs))
  assert len(set(map(tuple, expected))) > 1  # different inputs decode differently
  np.testing.assert_array_equal(got, expected)


def test_round_trip_gives_identical_tensors(converted):
  original = load_file(converted.hf_dir / "model.safetensors")
  back = load_file(converted.exported_dir / "model.safetensors")
  tied = "lm_head.weight" not in original
  # A tied head comes back untied, with transformers' d_model**-0.5 output scale folded in (flanx's layout):
  # the same model, but not the same tensors. Every other tensor, and every Flan-T5 (untied) one, is exact.
  assert set(back) - {"lm_head.weight"} == set(original) - {"lm_head.weight"} and "lm_head.weight" in back
  for name in original:
    np.testing.assert_array_equal(back[name], original[name], err_msg=name)
  hf_config = json.loads((converted.hf_dir / "config.json").read_text())
  config = json.loads((converted.exported_dir / "config.json").read_text())
  for key in ("num_layers", "num_decoder_layers", "d_ff", "d_kv", "num_heads", "relative_attention_num_buckets",
              "relative_attention_max_distance"):
    assert config[key] == hf_config[key], key
  # And transformers itself loads the exported directory to the same model.
  ids = torch.tensor(_batch(4)[0], dtype=torch.long)
  with torch.no_grad():
    exported = load_reference(converted.exported_dir)
    torch.testing.assert_close(exported(input_ids=ids, decoder_input_ids=ids[:, :5]).logits,
                               converted.reference(input_ids=ids, decoder_input_ids=ids[:, :5]).logits,
                               rtol=1e-5 if tied else 0, atol=1e-5 if tied else 0)


def test_scanned_import_gives_the_same_logits(converted, tmp_path):
  if converted.shape != "deeper_decoder":
    pytest.skip("one shape (several layers per stack, uneven depths) is enough for the layout change")
  config = convert.import_hf(converted.hf_dir, tmp_path / "scanned", scan_layers=True)
  scanned_params = convert.load_params_numpy(tmp_path / "scanned")
  assert "layers" in scanned_params["encoder"]
  scanned = EncoderDecoderModel(config, seqio.ByteVocabulary())
  batch = _features(*_batch(2))
  np.testing.assert_allclose(np.asarray(jax.jit(scanned.logits)(scanned_params, batch)),
                             np.asarray(converted.logits(converted.params, batch)), atol=1e-5)
