"""Per-device memory of one train step, estimated from shapes alone: parameters, Adafactor state, gradients
and the activations the backward pass keeps (which depend on the batch, the lengths and the remat policy).

Nothing is allocated: the parameter and optimizer shapes come from jax.eval_shape, their per-device size from
the logical partitioning rules and the mesh, and the activations from a per-layer count of what a T5 or
PaLM-style layer holds for its backward pass. `flanx plan --compile` checks the count against XLA.
"""

import dataclasses
import math
from collections.abc import Mapping

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import PartitionSpec

from flanx import partitioning
from flanx.models import blockwise_attention
from flanx.optimizer import OptimizerConfig

# Working space beside the state that the count below does not itemise: the optimizer update of the largest
# parameter, XLA's fusion temporaries, the batch. A fraction of the itemised total, fitted with
# _BACKWARD_WORKING_FACTOR and _SCORE_F32_ARRAYS to compiled runs (docs/tpu.md, "Measured figures").
_UNITEMISED_FRACTION = 0.06
ACTIVATION_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
  """Bytes per device."""

  parameters: int
  optimizer_state: int
  gradients: int
  activations: int
  workspace: int

  @property
  def total(self) -> int:
    return self.parameters + self.optimizer_state + self.gradients + self.activations + self.workspace

  def with_activations(self, activations: int) -> "MemoryEstimate":
    """The same state with other activations (another remat policy or attention block), and its workspace."""
    itemised = self.parameters + self.optimizer_state + self.gradients + activations
    return dataclasses.replace(self, activations=activations, workspace=workspace_bytes(itemised))


@dataclasses.dataclass(frozen=True)
class AbstractModel:
  """Parameter shapes (ShapeDtypeStructs) and their logical PartitionSpecs, built without allocating."""

  shapes: object
  logical_specs: object

  @classmethod
  def of(cls, model, feature_lengths: Mapping[str, int]) -> "AbstractModel":
    return cls(*partitioning.abstract_params(model, feature_lengths))

  @property
  def num_params(self) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.shapes)))


def _is_spec(x) -> bool:
  return isinstance(x, PartitionSpec)


def sharded_bytes(shape, dtype, spec: PartitionSpec, mesh_shape: Mapping[str, int]) -> int:
  """Bytes of one device's shard of an array laid out as `spec` on a mesh of `mesh_shape`."""
  size = 1
  entries = tuple(spec) + (None,) * (len(shape) - len(spec))
  for dim, axes in zip(shape, entries):
    size *= math.ceil(dim / partitioning.split_size(axes, mesh_shape))
  return size * np.dtype(dtype).itemsize


def tree_bytes(shapes, specs, mesh_shape: Mapping[str, int]) -> int:
  leaves = jax.tree.leaves(shapes)
  spec_leaves = jax.tree.leaves(specs, is_leaf=_is_spec)
  return sum(sharded_bytes(x.shape, x.dtype, s, mesh_shape) for x, s in zip(leaves, spec_leaves))


def model_split(rules: partitioning.LogicalRules, mesh_shape: Mapping[str, int]) -> int:
  """How many ways the rules split heads, MLP and vocabulary activations (1 unless they use `model`)."""
  axis = dict(rules).get("heads")
  return mesh_shape.get(axis, 1) if isinstance(axis, str) else 1


# The backward pass of one layer holds its recomputed forward values, their cotangents and the attention-score
# gradients at once: about this many times the layer's forward values (fitted to compiled scanned layers).
_BACKWARD_WORKING_FACTOR = 2.5
# Dropout draws 32 random bits per element it masks; a kept mask is one byte per element.
_RANDOM_BITS_BYTES = 4
# Float32 score-sized arrays the backward pass keeps per attention beside the probabilities in the activation
# dtype: the logits and the softmax's probabilities (fitted with _BACKWARD_WORKING_FACTOR; XLA's CPU programs
# of T5 at 2,048 tokens keep both).
_SCORE_F32_ARRAYS = 2
# The per-token values a layer's backward pass uses (the products' outputs, the elementwise values, the dropout
# masks; not the layer input that full remat keeps) take this many times their bfloat16 bytes: XLA's CPU compiler
# holds many bfloat16 values in float32 (fitted with blockwise attention, where they are most of what is kept;
# float32 models are counted as they are).
_HELD_TOKEN_VALUES = 2
# Float32 arrays of one blockwise-attention tile alive at once in its backward: the recomputed logits and
# probabilities, and the gradients of both.
_TILE_F32_ARRAYS = 4


def layer_bytes(tokens: int, kv_tokens: int, config, m: int, a: int, cross_tokens: int = 0) -> dict[str, float]:
  """What one layer of one sequence holds, by remat class.

  'inputs': the layer input (all that full remat keeps); 'weight_dots': outputs of the products with weight
  matrices (kept by dots_with_no_batch_dims_saveable); 'dots': those plus the attention scores, or a blockwise
  attention's output and log-sum-exp (kept by dots_saveable); 'all': everything the backward pass uses,
  including f32 attention logits and probabilities and the elementwise MLP values; 'random_bits': the dropout
  draws made while computing the layer, 'random_held' those alive at once; 'tile': the transient working set
  of one blockwise-attention tile. For the traffic (plan_time), in the activation dtype's bytes: 'produced',
  what the layer's operations write, and 'dot_outputs', the weight products' outputs.

  An attention that runs blockwise (config.attention_block_size B, where blockwise_attention.uses_blocks) keeps
  no score-sized array under any policy: its backward keeps q, k, v (among 'weight_dots'), the output and a
  float32 log-sum-exp per head and query (among 'dots', and in 'all'), and recomputes each (heads, tokens, B)
  tile of logits, probabilities and dropout mask. The tiles' bytes still pass through memory, so 'produced' and
  'random_bits' are those of whole attention.
  """
  d, f, h = config.emb_dim, config.mlp_dim / m, config.num_heads / m
  hd = config.num_heads * config.head_dim / m
  kv_hd = config.head_dim if not hasattr(config, "num_encoder_layers") else hd  # PaLM: one shared K/V head
  drop = 1 if config.dropout_rate > 0 else 0
  block = config.attention_block_size
  attentions = [kv_tokens] + ([cross_tokens] if cross_tokens else [])  # key lengths: self, cross
  score_elems = sum(h * tokens * keys for keys in attentions)
  held_elems = sum(h * tokens * keys for keys in attentions if not blockwise_attention.uses_blocks(block, keys))
  blocked = sum(blockwise_attention.uses_blocks(block, keys) for keys in attentions)
  tile_elems = h * tokens * block if blocked else 0
  log_sum_exp = blocked * h * tokens * 4
  weight_dots = tokens * (hd + 2 * kv_hd + d + 2 * f + d) * a
  elementwise = tokens * (4 * d + hd + 2 * f) * a
  dropped = tokens * (2 * f + d)
  if cross_tokens:  # decoder layer: a second attention over the encoder output
    weight_dots += (tokens * (hd + d) + 2 * cross_tokens * hd) * a
    elementwise += tokens * (2 * d + hd) * a
  inputs = tokens * d * a
  kept_scores = held_elems * (_SCORE_F32_ARRAYS * 4 + a) + log_sum_exp
  rest = inputs + weight_dots + elementwise + drop * dropped
  # A tile's f32 logits, probabilities and their gradients, its probabilities in the activation dtype for the
  # product, and its dropout draws and mask.
  tile = tile_elems * (_TILE_F32_ARRAYS * 4 + a + drop * (_RANDOM_BITS_BYTES + 1))
  held = _HELD_TOKEN_VALUES if a < 4 else 1
  # dots_saveable saves every product's output, but blockwise attention's tiles are products of a loop with no
  # residuals; it saves instead each blocked attention's output and log-sum-exp by name (layers.remat).
  blocked_outputs = blocked * tokens * hd * a
  return {"inputs": inputs, "weight_dots": held * weight_dots,
          "dots": held * (weight_dots + blocked_outputs) + kept_scores,
          "all": inputs + held * (rest - inputs) + kept_scores + drop * held_elems,
          "random_bits": drop * _RANDOM_BITS_BYTES * (score_elems + dropped),
          "random_held": drop * _RANDOM_BITS_BYTES * (held_elems + dropped),
          "produced": rest + score_elems * (4 + a) + drop * score_elems, "dot_outputs": weight_dots, "tile": tile}


def _kept(layer: Mapping[str, float], policy: str) -> float:
  if policy == "none":
    return layer["all"]
  if policy in ("full", "nothing_saveable"):
    return layer["inputs"]
  if policy == "dots_with_no_batch_dims_saveable":
    return layer["inputs"] + layer["weight_dots"]
  return layer["inputs"] + layer["dots"]  # dots_saveable


def _working(layer: Mapping[str, float], policy: str) -> float:
  """The transient peak of differentiating one rematerialised layer (none: everything is kept already)."""
  if policy == "none":
    return layer["random_held"] + layer["tile"]
  return _BACKWARD_WORKING_FACTOR * layer["all"] + layer["random_held"] + layer["tile"]


def activation_bytes(config, feature_lengths: Mapping[str, int], batch_per_device: int, model_split: int) -> int:
  """Activations one device keeps for the backward pass, plus the working set of the layer being
  differentiated (recomputed under remat) and of the f32 logits and their gradient."""
  a = ACTIVATION_BYTES[str(config.dtype)]
  policy = config.remat_policy
  vocab = config.vocab_size / model_split
  if hasattr(config, "num_encoder_layers"):
    enc, dec = feature_lengths["inputs"], feature_lengths["targets"]
    layers = [(config.num_encoder_layers, layer_bytes(enc, enc, config, model_split, a)),
              (config.num_decoder_layers, layer_bytes(dec, dec, config, model_split, a, cross_tokens=enc))]
    logits_tokens = dec
  else:
    length = feature_lengths["inputs"] + feature_lengths["targets"]
    layers = [(config.num_layers, layer_bytes(length, length, config, model_split, a))]
    logits_tokens = length
  kept = sum(n * _kept(layer, policy) for n, layer in layers)
  working = max(_working(layer, policy) for _, layer in layers)
  logits = logits_tokens * vocab * (a + 4 + 4)  # logits, their f32 log-softmax, and its gradient
  return int(batch_per_device * (kept + working + logits))


def estimate(model, abstract: AbstractModel, optimizer: OptimizerConfig, rules: partitioning.LogicalRules,
             mesh_shape: Mapping[str, int], feature_lengths: Mapping[str, int], batch_per_device: int,
             num_microbatches: int = 1) -> MemoryEstimate:
  """Per-device memory of a train step of `model` on a mesh of `mesh_shape` ({'replica': r, 'data': d, 'model': m}).

  batch_per_device: sequences per device in one microbatch. With several microbatches the gradients are
  held twice: the running sum and the current microbatch's.
  """
  param_specs = nn.logical_to_mesh(abstract.logical_specs, rules)
  params = tree_bytes(abstract.shapes, param_specs, mesh_shape)
  opt_shapes = jax.eval_shape(optimizer.build(abstract.shapes, abstract.logical_specs).init, abstract.shapes)
  opt_specs = nn.logical_to_mesh(optimizer.state_logical_specs(abstract.shapes, abstract.logical_specs), rules)
  opt = tree_bytes(opt_shapes, opt_specs, mesh_shape)
  acts = activation_bytes(model.config, feature_lengths, batch_per_device, model_split(rules, mesh_shape))
  grads = params * (2 if num_microbatches > 1 else 1)
  return MemoryEstimate(parameters=params, optimizer_state=opt, gradients=grads, activations=acts,
                        workspace=workspace_bytes(params + grads + opt + acts))


def workspace_bytes(itemised: int) -> int:
  return int(_UNITEMISED_FRACTION * itemised)


def decoding_bytes(config, rows: int, input_tokens: int, max_new_tokens: int) -> int:
  """An upper bound on what decoding `rows` prompts of `input_tokens` into `max_new_tokens` holds at once: the
  KV caches of every layer, plus the working set of one layer over a full-length pass (the cache is made from
  one, and scores are quadratic in its length; decoding attends whole, blocks or not). For refusing sizes that
  cannot fit before anything compiles."""
  a = ACTIVATION_BYTES[str(config.dtype)]
  kv = config.num_heads * config.head_dim
  if hasattr(config, "num_encoder_layers"):
    caches = config.num_decoder_layers * 2 * (max_new_tokens + input_tokens) * kv * a
    working = max(layer_bytes(input_tokens, input_tokens, config, 1, a)["produced"],
                  layer_bytes(max_new_tokens, max_new_tokens, config, 1, a, cross_tokens=input_tokens)["produced"])
  else:
    length = input_tokens + max_new_tokens
    caches = config.num_layers * 2 * length * config.head_dim * a  # one shared K/V head
    working = layer_bytes(length, length, config, 1, a)["produced"]
  logits = config.vocab_size * 4 * 2
  return int(rows * (caches + working + logits))


def scoring_bytes(config, rows: int, input_tokens: int, target_tokens: int) -> int:
  """An upper bound on one scoring pass: a decoding pass over the same lengths (its caches stand for the layers'
  outputs) plus the float32 logits and log-probabilities of every target position at once."""
  logits = rows * target_tokens * config.vocab_size * 4 * 2
  return decoding_bytes(config, rows, input_tokens, target_tokens) + logits
