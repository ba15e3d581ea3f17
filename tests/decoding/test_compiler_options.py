"""The decoding loops compile with flanx's CPU options (YNNPACK fusions off); scoring keeps XLA's defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from tests.helpers import DEMO_LENGTHS, tiny_model
from flanx import decoding, partitioning

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU options")


def _compiled_text(decoder, key, *args) -> str:
  return decoder._compiled[key].lower(*args).compile().as_text()


def test_greedy_and_beam_loops_compile_without_ynnpack_fusions_but_scoring_keeps_them():
  model = tiny_model()
  params = nn.meta.unbox(model.init(jax.random.key(0), DEMO_LENGTHS))
  decoder = decoding.Decoder.for_model(model, partitioning.Partitioner(), DEMO_LENGTHS)
  inputs = np.asarray(jax.random.randint(jax.random.key(1), (8, DEMO_LENGTHS["inputs"]), 3, 259), np.int32)
  decoder.generate(params, inputs, 4)
  decoder.beam_search(params, inputs, 4, beam_size=2)
  batch = decoding.teacher_forced(model, inputs, inputs[:, :4])
  decoder.score(params, batch)
  rows = decoder._rows_on_mesh(inputs)
  with decoder.partitioner.context():
    greedy = _compiled_text(decoder, ("sample", 4, decoding.Sampling()), params, rows, jax.random.key(0))
    beam = _compiled_text(decoder, ("beam", 4, 2, 0.6), params, rows, jnp.zeros((), jnp.int32))
    names = tuple(sorted(batch))
    features = [decoder._rows_on_mesh(np.asarray(batch[k])) for k in names]
    score = _compiled_text(decoder, ("score", names), params, *features, jnp.zeros((), jnp.int32))
  assert "ynn_fusion" in score  # XLA's default, so the check below is not vacuous
  assert "ynn_fusion" not in greedy and "ynn_fusion" not in beam
