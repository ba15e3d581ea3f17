"""The Hugging Face side of `--against hf` computes the same function as flanx on converted weights, so the
benchmark compares equal work; and its greedy `generate` decodes every requested token."""

import jax
import numpy as np
import pytest

from tests.helpers import tiny_model

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from flanx.bench import hf_baseline  # noqa: E402  only once torch and transformers are known to be installed


def _params(model):
  from flax import linen as nn
  return jax.device_get(nn.meta.unbox(model.init(jax.random.key(0), {"inputs": 8, "targets": 4})))


@pytest.mark.parametrize("scan_layers", [False, True])
def test_converted_hf_model_has_flanx_logits(scan_layers):
  model = tiny_model(scan_layers=scan_layers)
  params = _params(model)
  rng = np.random.default_rng(0)
  inputs = rng.integers(2, 384, (2, 8), dtype=np.int32)
  decoder_inputs = np.pad(rng.integers(2, 384, (2, 3), dtype=np.int32), ((0, 0), (1, 0)))
  targets = rng.integers(2, 384, (2, 4), dtype=np.int32)  # all real tokens: no decoder position is masked
  expected = np.asarray(model.logits(params, {"encoder_input_tokens": inputs, "decoder_input_tokens": decoder_inputs,
                                               "decoder_target_tokens": targets}))
  hf = hf_baseline.hf_model(model.config, params).eval()
  with torch.no_grad():
    got = hf(input_ids=torch.tensor(inputs).long(), attention_mask=torch.ones(2, 8, dtype=torch.long),
             decoder_input_ids=torch.tensor(decoder_inputs).long()).logits.numpy()
  np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_greedy_decodes_every_token_and_a_train_step_runs():
  model = tiny_model()
  hf = hf_baseline.hf_model(model.config, _params(model))
  inputs = np.random.default_rng(1).integers(2, 384, (2, 8), dtype=np.int32)
  tokens = hf_baseline.greedy(hf, inputs, 5)
  assert tokens.shape == (2, 5)
  targets = np.random.default_rng(2).integers(2, 384, (2, 4), dtype=np.int32)
  batch = {"encoder_input_tokens": inputs, "decoder_target_tokens": targets,
           "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0)))}
  before = hf.lm_head.weight.detach().clone()
  assert hf_baseline.train_step_seconds(hf, batch, steps=1) > 0
  assert not torch.equal(before, hf.lm_head.weight.detach()), "the Adafactor step did not update the LM head"
  assert not torch.equal(hf.lm_head.weight, hf.shared.weight), "the LM head must stay untied, as in T5 v1.1"
