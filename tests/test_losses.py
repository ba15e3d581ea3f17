"""The loss-normalising factors against T5X's losses_test.py cases, packed batches included."""

import jax.numpy as jnp
import numpy as np
import pytest

from flanx import losses
from tests.helpers import demo_batches

TARGETS = np.array([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0]])
WEIGHTS = np.array([[0.5, 1.0, 0.25, 2.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]], np.float32)
PACKED_WEIGHTS = np.array([[0.5, 1.0, 0.25, 2.0, 1.5], [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
PACKED_SEGMENTS = np.array([[1, 1, 1, 2, 3], [1, 2, 2, 3, 0]])


@pytest.fixture(scope="module")
def packed_batch():
  return demo_batches(1, batch_size=4, pack=True)[0]


def test_average_per_sequence_matches_t5x():
  weights = (TARGETS > 0).astype(np.float32)  # T5X test_average_per_sequence
  np.testing.assert_allclose(losses.token_weights("AVERAGE_PER_SEQUENCE", weights),
                             [[0.25] * 4 + [0.0], [0.5, 0.5, 0, 0, 0]], rtol=1e-6)
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", weights)) == 2.0
  # test_average_per_sequence_with_weights
  np.testing.assert_allclose(losses.token_weights("AVERAGE_PER_SEQUENCE", WEIGHTS),
                             [[0.5 / 3.75, 1.0 / 3.75, 0.25 / 3.75, 2.0 / 3.75, 0.0], [0.5, 0.5, 0, 0, 0]], rtol=1e-6)
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", WEIGHTS)) == 2.0


def test_packed_rows_average_per_segment_as_t5x():
  # T5X test_sum_weights_per_segment and test_average_per_sequence_with_weights_with_packing.
  np.testing.assert_allclose(losses.sequence_weight_sums(PACKED_WEIGHTS, PACKED_SEGMENTS),
                             [[1.75, 1.75, 1.75, 2.0, 1.5], [1.0, 5.0, 5.0, 4.0, 0.0]], rtol=1e-6)
  np.testing.assert_allclose(losses.token_weights("AVERAGE_PER_SEQUENCE", PACKED_WEIGHTS, PACKED_SEGMENTS),
                             [[0.5 / 1.75, 1.0 / 1.75, 0.25 / 1.75, 1.0, 1.0], [1.0, 0.4, 0.6, 1.0, 0.0]], rtol=1e-6)
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", PACKED_WEIGHTS, PACKED_SEGMENTS)) == 6.0


def test_padding_rows_do_not_count():
  weights = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]], np.float32)
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", weights)) == 2.0
  segments = np.array([[1, 2, 0], [0, 0, 0], [1, 0, 0]])
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", weights, segments)) == 3.0
  assert np.all(np.isfinite(losses.token_weights("AVERAGE_PER_SEQUENCE", weights, segments)))


def test_packed_demo_batch_counts_its_examples(packed_batch):
  """On a real packed batch the factor is the number of packed examples with targets, and each example's
  weights sum to one."""
  weights, segments = packed_batch["decoder_loss_weights"], packed_batch["decoder_segment_ids"]
  examples = sum(len(set(row[w > 0].tolist())) for row, w in zip(segments, weights))
  assert examples > len(weights)  # the rows really are packed
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", weights, segments)) == pytest.approx(examples)
  per_token = np.asarray(losses.token_weights("AVERAGE_PER_SEQUENCE", weights, segments))
  for row, s, w in zip(per_token, segments, weights):
    for seg in set(s[(s > 0) & (w > 0)].tolist()):
      np.testing.assert_allclose(row[s == seg].sum(), 1.0, rtol=1e-6)
  # Unpacked rows are whole sequences: the old row average, which a packed batch must not use.
  assert float(losses.normalizing_factor("AVERAGE_PER_SEQUENCE", jnp.asarray(weights))) == pytest.approx(len(weights))


def test_model_loss_on_a_packed_batch_is_the_mean_of_its_examples_mean_losses(packed_batch):
  """Through the model: AVERAGE_PER_SEQUENCE's objective / factor is the mean, over the packed examples, of each
  example's mean token loss (computed here with numpy from the per-token losses)."""
  import dataclasses

  import flax.linen as nn
  import jax

  from tests.helpers import tiny_model

  model = dataclasses.replace(tiny_model(), loss_normalizing_factor="AVERAGE_PER_SEQUENCE")
  batch = packed_batch
  params = nn.meta.unbox(jax.jit(lambda: model.init(jax.random.key(0), {"inputs": 32, "targets": 16}))())
  sums, logits = jax.jit(lambda p, b: (model.loss_sums(p, b, None), model.logits(p, b)))(params, batch)
  w, seg = batch["decoder_loss_weights"], batch["decoder_segment_ids"]
  factor = losses.normalizing_factor("AVERAGE_PER_SEQUENCE", w, seg)
  per_token = np.asarray(losses.cross_entropy_with_z_loss(logits, batch["decoder_target_tokens"], model.z_loss)[0])
  means = [per_token[r][(seg[r] == s) & (w[r] > 0)].mean() for r in range(len(seg))
           for s in set(seg[r][(seg[r] > 0) & (w[r] > 0)].tolist())]
  assert len(means) > len(seg)
  np.testing.assert_allclose(float(sums["objective"] / factor), np.mean(means), rtol=1e-5)
