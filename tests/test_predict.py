"""predict.decode_prompts: the one path from prompt rows to output ids (infer, show_predictions, the evaluator)."""

import flax.linen as nn
import jax
import numpy as np

from tests.helpers import DEMO_LENGTHS, tiny_model
from flanx import decoding, heldout, partitioning, predict

MAX_LENGTH = 6


def _decoder_and_params():
  model = tiny_model()
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig())
  params = nn.meta.unbox(model.init(jax.random.key(0), DEMO_LENGTHS))
  return decoding.Decoder.for_model(model, partitioner, DEMO_LENGTHS), params


def test_fixed_batch_shape_and_beam_1_give_the_greedy_outputs_cut_at_eos():
  decoder, params = _decoder_and_params()
  prompts = [[5, 6, 7, 1], [40, 41, 1], [9, 1]]
  eos = decoder.model.vocabulary.eos_id
  greedy = decoder.generate(params, decoding.token_rows(prompts), MAX_LENGTH)
  expected = [decoding.trim(row[0], eos) for row in greedy.tokens]
  assert any(expected), "a random model should emit something before EOS"
  padded = predict.decode_prompts(decoder, params, prompts, MAX_LENGTH, num_rows=8, width=DEMO_LENGTHS["inputs"])
  assert padded == expected  # padding rows and columns changes nothing, and is not returned
  assert predict.decode_prompts(decoder, params, prompts, MAX_LENGTH, beam_size=1) == expected
  beams = predict.decode_prompts(decoder, params, prompts, MAX_LENGTH, beam_size=3)
  assert len(beams) == 3 and all(eos not in b and 0 not in b for b in beams)


def test_model_fns_predict_decodes_through_the_same_path():
  decoder, params = _decoder_and_params()
  prompts = np.asarray(decoding.token_rows([[5, 6, 7, 1], [40, 41, 1], [9, 1]], DEMO_LENGTHS["inputs"]))

  class Enumerated:  # what seqio's Evaluator hands a predict_fn: (index, features) pairs
    def as_numpy_iterator(self):
      return iter([(i, {"encoder_input_tokens": p}) for i, p in enumerate(prompts)])

  fns = heldout.ModelFns(decoder, params, batch_size=2, max_length=MAX_LENGTH)
  assert fns.predict(Enumerated()) == list(enumerate(predict.decode_prompts(decoder, params, prompts, MAX_LENGTH)))
