"""How long a train step takes: per-device costs (FLOPs, memory traffic, collective bytes) and a hardware's
speeds -> seconds, MFU.

Costs come from the compiled program (flanx.plan_cost) or, cheaply and from shapes alone, from `analytic_cost`
(what `flanx plan` prints without --compile and what a layout search ranks candidates by).

The overlap assumption (docs/tpu.md, "The time model"): a device runs its operations one after another. The
operations that compute matrix products each take the longer of their FLOPs at peak and their bytes at full
memory bandwidth (the roofline; for large products the FLOPs); every other operation (normalisation, softmax,
elementwise, the optimizer update) is bound by its bytes. So compute = max(FLOPs / peak, dot bytes / bandwidth)
and memory = (other bytes) / bandwidth add up. Collectives inside a slice (ICI) are asynchronous and run beside
that work, so only the part longer than it shows; collectives across slices (DCN) are the gradient reduction
after the last layer's backward pass, with nothing left to hide behind, so they add:

    step = max(compute + memory, ICI) + DCN
"""

import dataclasses
from collections.abc import Mapping

import flax.linen as nn
import jax
from jax.sharding import PartitionSpec

from flanx import partitioning, plan_chips, plan_memory
from flanx.errors import FlanxError
from flanx.models import blockwise_attention

# Memory traffic of the operations other than matrix products, per byte of the values a sequence's layers
# produce (the 'produced' of plan_memory.layer_bytes): normalisation, softmax, dropout and residual fusions
# read and write each value several times forward and backward; remat trades reading stored values for writing
# recomputed ones, about even. Fitted to XLA's CPU programs (tiny T5 and T5 Small,
# apart from their random bits; tests/pod/test_plan_cost.py compares them), which fuse less than XLA's TPU
# programs: for a TPU this memory term is likely pessimistic.
_ACTIVATION_TRAFFIC = 14.0
# Per byte of random bits dropout draws: written once and read once where the generator is fused, as on TPU.
# XLA's CPU programs run threefry's rounds as a loop over whole arrays, about 80 bytes per byte drawn (half of
# T5 Small's traffic at dropout 0.05): the estimate leaves that CPU cost out.
_RANDOM_BITS_TRAFFIC = 2.0
# Matrix-product operations read their inputs and write their outputs once forward and, for the two gradients,
# about twice as much backward (plus once more forward under remat): per byte of their forward outputs.
_DOT_TRAFFIC = 6.0
# Bytes of parameter-sized traffic per parameter byte outside the layers' use: the optimizer reads the
# parameter, its gradient and Adafactor's factored state and writes the parameter back; the gradient is written
# once (and accumulated per microbatch).
_OPTIMIZER_TRAFFIC = 4.0


@dataclasses.dataclass(frozen=True)
class StepCost:
  """Per device, one train step (all microbatches)."""

  flops: float           # what the program executes (XLA cost analysis), remat recomputation included
  bytes_accessed: float  # memory traffic
  ici_bytes: float       # collective bytes sent over ICI (within a slice), per device
  dcn_bytes: float       # collective bytes sent over DCN (across slices), per device
  model_flops: float     # analytic 6*N*tokens-style model FLOPs (model.flops_per_example * rows), per device
  dot_bytes: float = 0.0  # the part of bytes_accessed the matrix-product operations read and write

  @property
  def remat_factor(self) -> float:
    return self.flops / self.model_flops if self.model_flops else float("nan")


@dataclasses.dataclass(frozen=True)
class Hardware:
  """Per device: peak FLOP/s, memory bandwidth, and bytes/s one device sends over ICI and over DCN."""

  name: str
  peak_flops: float
  hbm_bytes_per_s: float
  ici_bytes_per_s: float
  dcn_bytes_per_s: float

  @classmethod
  def of(cls, chip: plan_chips.Chip) -> "Hardware":
    if not chip.has_speed:
      raise FlanxError(f"chip {chip.name!r} has no performance figures (peak FLOP/s, HBM, ICI, DCN bandwidth) in "
                       f"flanx/plan_chips.py; a step time cannot be predicted for it")
    return cls(chip.name, chip.peak_flops, chip.hbm_bytes_per_s, chip.ici_bytes_per_s, chip.dcn_bytes_per_s)


@dataclasses.dataclass(frozen=True)
class StepTime:
  seconds: float
  compute_s: float  # the matrix-product operations: max(FLOPs at peak, their bytes at full bandwidth)
  memory_s: float   # every other operation's bytes at full bandwidth
  ici_s: float      # ICI collectives at full bandwidth
  dcn_s: float      # DCN collectives at full bandwidth
  mfu: float        # model FLOPs / (seconds x peak)

  @property
  def bound(self) -> str:
    """What the step waits on most: compute, memory, or ICI when the collectives outlast the work."""
    if self.ici_s > self.compute_s + self.memory_s:
      return "ICI"
    return "compute" if self.compute_s >= self.memory_s else "memory"

  @property
  def exposed_ici_s(self) -> float:
    return max(0.0, self.ici_s - self.compute_s - self.memory_s)


def predict(cost: StepCost, hardware: Hardware) -> StepTime:
  """Step time: max(compute + memory, ICI) + DCN (the overlap assumption of the module docstring)."""
  compute = max(cost.flops / hardware.peak_flops, cost.dot_bytes / hardware.hbm_bytes_per_s)
  memory = (cost.bytes_accessed - cost.dot_bytes) / hardware.hbm_bytes_per_s
  ici = cost.ici_bytes / hardware.ici_bytes_per_s if cost.ici_bytes else 0.0
  dcn = cost.dcn_bytes / hardware.dcn_bytes_per_s if cost.dcn_bytes else 0.0
  seconds = max(compute + memory, ici) + dcn
  mfu = cost.model_flops / (seconds * hardware.peak_flops) if seconds > 0 else 0.0
  return StepTime(seconds, compute, memory, ici, dcn, mfu)


# --- from shapes alone -------------------------------------------------------------------------------------------

def ring_all_reduce(size: float, n: int) -> float:
  """Bytes one device sends in a ring all-reduce of `size` bytes over n devices (reduce-scatter + all-gather)."""
  return 2.0 * (n - 1) / n * size if n > 1 else 0.0


def ring_all_gather(size: float, n: int) -> float:
  """Bytes one device sends to gather a `size`-byte array (its 1/n shard each) over n devices; also what a
  reduce-scatter of a `size`-byte array sends."""
  return (n - 1) / n * size if n > 1 else 0.0


def _logit_flops(config, lengths: Mapping[str, int]) -> float:
  """Training FLOPs of the output projection, which sits outside the rematerialised layers."""
  tokens = lengths["targets"] if hasattr(config, "num_encoder_layers") else lengths["inputs"] + lengths["targets"]
  return 3.0 * tokens * 2 * config.emb_dim * config.vocab_size


def remat_factor(model, lengths: Mapping[str, int]) -> float:
  """Executed / model FLOPs. Full remat runs each layer's forward pass again in the backward pass, except the
  products whose outputs only feed the residual sum, which the backward pass never reads, so XLA drops their
  recomputation as dead code: T5's MLP output projection, and both output projections of PaLM's parallel
  block. dots_with_no_batch_dims_saveable recomputes the attention-score products; dots_saveable and none
  recompute no matrix product. Blockwise attention (config.attention_block_size > 0) runs each tile's
  query-key product once more in its own backward pass, under every policy.
  (Checked against the compiled step's dot FLOPs: tests/pod/test_plan_cost.py.)"""
  config, total = model.config, model.flops_per_example(lengths)
  policy = config.remat_policy
  blocks = _blockwise_recompute_flops(config, lengths) / total
  if policy in ("full", "nothing_saveable"):
    forward = (total - _logit_flops(config, lengths)) / 3
    return 1 + (forward - _residual_only_flops(config, lengths)) / total + blocks
  if policy == "dots_with_no_batch_dims_saveable":
    return 1 + _attention_score_flops(config, lengths) / 3 / total + blocks
  return 1.0 + blocks


def _residual_only_flops(config, lengths: Mapping[str, int]) -> float:
  """Forward FLOPs of the products whose outputs go only into the residual sum (one example)."""
  if hasattr(config, "num_encoder_layers"):
    mlp_out = 2 * config.mlp_dim * config.emb_dim
    return mlp_out * (config.num_encoder_layers * lengths["inputs"] + config.num_decoder_layers * lengths["targets"])
  length = lengths["inputs"] + lengths["targets"]
  outputs = 2 * config.emb_dim * (config.mlp_dim + config.num_heads * config.head_dim)
  return float(config.num_layers * length * outputs)


def _attentions(config, lengths: Mapping[str, int]) -> list[tuple[int, int, int]]:
  """(layers, queries, keys) of each kind of attention in one example: T5's encoder self-attention, decoder
  self-attention and cross-attention; the decoder-only model's one self-attention."""
  if hasattr(config, "num_encoder_layers"):
    l_in, l_out = lengths["inputs"], lengths["targets"]
    return [(config.num_encoder_layers, l_in, l_in), (config.num_decoder_layers, l_out, l_out),
            (config.num_decoder_layers, l_out, l_in)]
  length = lengths["inputs"] + lengths["targets"]
  return [(config.num_layers, length, length)]


def _blockwise_recompute_flops(config, lengths: Mapping[str, int]) -> float:
  """The query-key products that blockwise attention runs again in its backward pass (one example): those of
  the attentions whose keys it tiles (blockwise_attention.uses_blocks)."""
  inner = config.num_heads * config.head_dim
  return float(sum(layers * queries * 2 * keys * inner for layers, queries, keys in _attentions(config, lengths)
                   if blockwise_attention.uses_blocks(config.attention_block_size, keys)))


def _attention_score_flops(config, lengths: Mapping[str, int]) -> float:
  """Training FLOPs of the query-key and probability-value products (the batched dots)."""
  inner = config.num_heads * config.head_dim
  return 3.0 * sum(layers * queries * 2 * 2 * keys * inner for layers, queries, keys in _attentions(config, lengths))


def _axes(spec: PartitionSpec) -> set[str]:
  return {axis for entry in spec for axis in partitioning.mesh_axes_of(entry)}


def _activation_all_reduces(config, lengths: Mapping[str, int], remat: bool) -> float:
  """Elements all-reduced over `model` per sequence by Megatron-style layers: each sublayer's output
  projection sums partial results in the forward pass (again when remat recomputes it), and its input
  gradient is summed in the backward pass; the vocabulary-split embedding lookups and the logits' input
  gradient likewise."""
  d, forward_passes = config.emb_dim, 2 if remat else 1
  if hasattr(config, "num_encoder_layers"):
    l_in, l_out = lengths["inputs"], lengths["targets"]
    encoder = config.num_encoder_layers * 2 * (forward_passes + 1) * l_in * d
    # Self-attention, cross-attention, MLP; and the gradient of the encoder output each cross-attention reads.
    decoder = config.num_decoder_layers * (3 * (forward_passes + 1) * l_out * d + l_in * d)
    edges = (l_in + l_out) * d + l_out * d  # two embedding lookups; the logits' input gradient
    return float(encoder + decoder + edges)
  length = lengths["inputs"] + lengths["targets"]
  layers = config.num_layers * (forward_passes + 1) * length * d  # parallel block: attention + MLP summed once
  return float(layers + 2 * length * d)


def model_flops(model, lengths: Mapping[str, int], batch_size: int, num_devices: int) -> float:
  """Analytic model FLOPs of one train step (every microbatch) per device: what MFU divides by."""
  return model.flops_per_example(lengths) * batch_size / num_devices


def analytic_cost(plan) -> StepCost:
  """Per-device cost of `plan`'s train step from shapes alone (no compile): model FLOPs x the remat factor,
  parameter and activation memory traffic, and the collectives the rules and mesh imply: FSDP-style
  all-gathers of `data`-sharded parameters (forward and backward, per microbatch) and reduce-scatters of their
  gradients, all-reduces over `data` of the gradients of parameters not sharded over it, Megatron-style
  activation all-reduces over `model`, and the gradient all-reduce over `replica` (DCN on a multislice
  topology)."""
  inputs, mesh = plan.inputs, plan.mesh_shape
  model, config, lengths = inputs.model, inputs.model.config, inputs.feature_lengths
  r, d, m, k = mesh["replica"], mesh["data"], mesh["model"], inputs.num_microbatches
  n = r * d * m
  step_model_flops = model_flops(model, lengths, inputs.batch_size, n)
  remat = config.remat_policy not in ("none", None)
  flops = step_model_flops * remat_factor(model, lengths)

  abstract = plan.abstract or plan_memory.AbstractModel.of(model, lengths)
  rules = inputs.partition.logical_rules()
  specs = jax.tree.leaves(nn.logical_to_mesh(abstract.logical_specs, rules),
                      is_leaf=lambda x: isinstance(x, PartitionSpec))
  ici = dcn = weight_reads = optimizer_traffic = 0.0
  uses = 2 + (1 if remat else 0)  # forward, backward, and remat's second forward
  for shape, spec in zip(jax.tree.leaves(abstract.shapes), specs):
    shard = plan_memory.sharded_bytes(shape.shape, shape.dtype, spec, mesh)
    axes = _axes(spec)
    if "data" in axes:
      gathered, reduced = shard * d, shard
      # Gathered for the forward and for the backward pass (remat's recomputation reuses the backward's
      # gather: both sit in the same loop iteration), and the gradient reduce-scattered, per microbatch.
      ici += k * (2 * ring_all_gather(gathered, d) + ring_all_gather(gathered, d))
    else:
      gathered, reduced = shard, shard / d
      ici += ring_all_reduce(shard, d)  # the summed gradient, once per step
    # Across `replica`, as multislice reduces hierarchically: only the part each device holds after the
    # reduction over `data` crosses DCN.
    reduce = ring_all_reduce(reduced, r)
    if plan.topology.num_slices > 1:
      dcn += reduce
    else:
      ici += reduce
    weight_reads += k * uses * gathered
    optimizer_traffic += _OPTIMIZER_TRAFFIC * shard

  a = plan_memory.ACTIVATION_BYTES[str(config.dtype)]
  rows = plan.batch_per_device * k  # sequences per device per step
  split = plan_memory.model_split(rules, mesh)
  if split > 1:
    ici += rows * ring_all_reduce(_activation_all_reduces(config, lengths, remat) * a, split)
  activations = _activation_bytes(config, lengths, split, a)
  dot_traffic = weight_reads + rows * (_DOT_TRAFFIC + (1 if remat else 0)) * activations["dot_outputs"]
  other_traffic = optimizer_traffic + rows * (_ACTIVATION_TRAFFIC * activations["produced"]
                                              + _RANDOM_BITS_TRAFFIC * activations["random_bits"])
  return StepCost(flops=flops, bytes_accessed=dot_traffic + other_traffic, ici_bytes=ici, dcn_bytes=dcn,
                  model_flops=step_model_flops, dot_bytes=dot_traffic)


def _activation_bytes(config, lengths: Mapping[str, int], split: int, a: int) -> dict[str, float]:
  """plan_memory.layer_bytes summed over one sequence's layers, with the logits (and their f32 log-softmax
  and gradient) among 'produced' and their projection's output among 'dot_outputs'."""
  if hasattr(config, "num_encoder_layers"):
    enc, dec = lengths["inputs"], lengths["targets"]
    stacks = [(config.num_encoder_layers, plan_memory.layer_bytes(enc, enc, config, split, a)),
              (config.num_decoder_layers, plan_memory.layer_bytes(dec, dec, config, split, a, cross_tokens=enc))]
    logit_tokens = dec
  else:
    length = lengths["inputs"] + lengths["targets"]
    stacks = [(config.num_layers, plan_memory.layer_bytes(length, length, config, split, a))]
    logit_tokens = length
  total = {key: sum(n * layer[key] for n, layer in stacks) for key in ("produced", "dot_outputs", "random_bits")}
  logits = logit_tokens * config.vocab_size / split
  total["produced"] += logits * (a + 4 + 4)
  total["dot_outputs"] += logits * a
  return total


def hours(step: StepTime, steps: int) -> float:
  return step.seconds * steps / 3600.0


def tokens_per_second_per_device(plan, step: StepTime) -> float:
  lengths = plan.inputs.feature_lengths
  tokens = plan.inputs.batch_size * (lengths["inputs"] + lengths["targets"])
  return tokens / plan.num_devices / step.seconds if step.seconds > 0 else 0.0

