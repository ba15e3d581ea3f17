"""How each T5 v1.1 tensor is named and laid out in transformers versus flanx.

transformers stores torch Linear weights as (out_features, in_features) with heads flattened into the
feature axis; flanx keeps (in, out) with heads and head_dim as separate named axes. Each `Tensor` knows
both names and the reshape between the two layouts, so import and export share one table.
"""

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from flanx.errors import FlanxError
from flanx.models.t5 import T5Config

# The only T5 variant flanx's T5 implements (v1.1 / Flan-T5); original T5 used a plain ReLU MLP.
SUPPORTED_FEED_FORWARD = "gated-gelu"
LAYER_NORM_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class Tensor:
  hf_name: str
  flanx_path: tuple[str, ...]  # path in the unscanned param tree
  kind: str  # "identity" | "transpose" | "attn_in" | "attn_out"
  heads: int = 0

  def to_flanx(self, w: np.ndarray) -> np.ndarray:
    if self.kind == "identity":
      return w
    if self.kind == "transpose":
      return w.T
    if self.kind == "attn_in":  # (heads*kv, embed) -> (embed, heads, kv)
      return w.T.reshape(w.shape[1], self.heads, -1)
    return w.T.reshape(self.heads, -1, w.shape[0])  # attn_out: (embed, heads*kv) -> (heads, kv, embed)

  def to_hf(self, w: np.ndarray) -> np.ndarray:
    if self.kind == "identity":
      return w
    if self.kind == "transpose":
      return w.T
    if self.kind == "attn_in":
      return w.reshape(w.shape[0], -1).T
    return w.reshape(-1, w.shape[-1]).T


def hf_shapes(c: T5Config) -> dict[str, tuple[int, ...]]:
  """The transformers shape of every tensor a T5 with config `c` has."""
  inner, d = c.num_heads * c.head_dim, c.emb_dim
  by_kind = {"attn_in": (inner, d), "attn_out": (d, inner)}
  shapes = {}
  for t in tensors(c):
    if t.kind in by_kind:
      shapes[t.hf_name] = by_kind[t.kind]
    elif t.hf_name == "shared.weight" or t.hf_name == "lm_head.weight":
      shapes[t.hf_name] = (c.vocab_size, d)
    elif "relative_attention_bias" in t.hf_name:
      shapes[t.hf_name] = (c.relative_attention_num_buckets, c.num_heads)
    elif ".wo." in t.hf_name:
      shapes[t.hf_name] = (d, c.mlp_dim)
    elif ".wi_" in t.hf_name:
      shapes[t.hf_name] = (c.mlp_dim, d)
    else:
      shapes[t.hf_name] = (d,)
  return shapes


def _attention(hf_prefix: str, path: tuple[str, ...], heads: int) -> Iterator[Tensor]:
  for hf, flanx, kind in (("q", "query", "attn_in"), ("k", "key", "attn_in"), ("v", "value", "attn_in"),
                          ("o", "out", "attn_out")):
    yield Tensor(f"{hf_prefix}.{hf}.weight", path + (flanx,), kind, heads)


def _mlp(hf_prefix: str, path: tuple[str, ...]) -> Iterator[Tensor]:
  for name in ("wi_0", "wi_1", "wo"):
    yield Tensor(f"{hf_prefix}.DenseReluDense.{name}.weight", path + (name,), "transpose")


def tensors(c: T5Config) -> list[Tensor]:
  """Every parameter of a flanx T5 with its transformers counterpart."""
  h = c.num_heads
  out = [Tensor("shared.weight", ("token_embedder", "embedding"), "identity")]
  for stack, num_layers in (("encoder", c.num_encoder_layers), ("decoder", c.num_decoder_layers)):
    # transformers keeps the stack's shared relative-position table in its first block.
    out.append(Tensor(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                      (stack, "relpos_bias", "rel_embedding"), "transpose"))
    for i in range(num_layers):
      hf, fx = f"{stack}.block.{i}.layer", (stack, f"layers_{i}")
      if stack == "encoder":
        out += _attention(f"{hf}.0.SelfAttention", fx + ("attention",), h)
        out.append(Tensor(f"{hf}.0.layer_norm.weight", fx + ("pre_attention_layer_norm", "scale"), "identity"))
        out += _mlp(f"{hf}.1", fx + ("mlp",))
        out.append(Tensor(f"{hf}.1.layer_norm.weight", fx + ("pre_mlp_layer_norm", "scale"), "identity"))
      else:
        out += _attention(f"{hf}.0.SelfAttention", fx + ("self_attention",), h)
        out.append(Tensor(f"{hf}.0.layer_norm.weight", fx + ("pre_self_attention_layer_norm", "scale"), "identity"))
        out += _attention(f"{hf}.1.EncDecAttention", fx + ("encoder_decoder_attention",), h)
        out.append(Tensor(f"{hf}.1.layer_norm.weight", fx + ("pre_cross_attention_layer_norm", "scale"), "identity"))
        out += _mlp(f"{hf}.2", fx + ("mlp",))
        out.append(Tensor(f"{hf}.2.layer_norm.weight", fx + ("pre_mlp_layer_norm", "scale"), "identity"))
    out.append(Tensor(f"{stack}.final_layer_norm.weight", (stack, f"{stack}_norm", "scale"), "identity"))
  out.append(Tensor("lm_head.weight", ("decoder", "logits_dense"), "transpose"))
  return out


def hf_tensors(c: T5Config, params) -> dict[str, np.ndarray]:
  """A flanx param tree (nested dicts, scanned `layers` or unscanned `layers_{i}`) -> transformers tensors."""
  from flax import traverse_util

  flat = traverse_util.flatten_dict(params)
  out = {}
  for t in tensors(c):
    p = t.flanx_path
    if p in flat:
      w = flat[p]
    else:  # scanned: layers_{i} is slice i of the stacked `layers` tree
      w = flat[(p[0], "layers") + p[2:]][int(p[1].split("_")[1])]
    out[t.hf_name] = np.ascontiguousarray(t.to_hf(np.asarray(w, np.float32)))
  return out


def scaled_decoder_outputs(hf_config: dict[str, Any]) -> bool:
  """Whether transformers multiplies the decoder output by d_model**-0.5 before the LM head.

  Original T5 did (tied embeddings); v1.1 and Flan-T5 do not and mark that with tie_word_embeddings=false.
  transformers 5 writes `scale_decoder_outputs` explicitly.
  """
  if "scale_decoder_outputs" in hf_config:
    return bool(hf_config["scale_decoder_outputs"])
  return hf_config.get("tie_word_embeddings", True) is not False


def config_from_hf(hf_config: dict[str, Any], where: str) -> T5Config:
  """A transformers T5 config.json -> T5Config, or one FlanxError line saying what flanx can't represent."""
  if hf_config.get("model_type") != "t5":
    raise FlanxError(f"{where}: unsupported architecture model_type={hf_config.get('model_type')!r} "
                     "(flanx converts T5 / Flan-T5 checkpoints)")
  archs = hf_config.get("architectures") or ["T5ForConditionalGeneration"]
  if "T5ForConditionalGeneration" not in archs:
    raise FlanxError(f"{where}: unsupported architecture {archs} (need T5ForConditionalGeneration)")
  ff = hf_config.get("feed_forward_proj", "relu")
  if ff != SUPPORTED_FEED_FORWARD:
    raise FlanxError(f"{where}: unsupported architecture feed_forward_proj={ff!r}; flanx implements T5 v1.1's "
                     f"{SUPPORTED_FEED_FORWARD!r} MLP (Flan-T5, T5 v1.1, LM-adapted T5)")
  eps = hf_config.get("layer_norm_epsilon", LAYER_NORM_EPSILON)
  if abs(eps - LAYER_NORM_EPSILON) > 1e-12:
    raise FlanxError(f"{where}: unsupported architecture layer_norm_epsilon={eps} (flanx uses {LAYER_NORM_EPSILON})")
  try:
    return T5Config(
        dtype=activation_dtype(hf_config, where),
        vocab_size=int(hf_config["vocab_size"]), emb_dim=int(hf_config["d_model"]),
        num_heads=int(hf_config["num_heads"]), head_dim=int(hf_config["d_kv"]), mlp_dim=int(hf_config["d_ff"]),
        num_encoder_layers=int(hf_config["num_layers"]),
        num_decoder_layers=int(hf_config.get("num_decoder_layers") or hf_config["num_layers"]),
        relative_attention_num_buckets=int(hf_config.get("relative_attention_num_buckets", 32)),
        relative_attention_max_distance=int(hf_config.get("relative_attention_max_distance", 128)))
  except KeyError as e:
    raise FlanxError(f"{where}: config.json lacks {e.args[0]!r}") from e
  except FlanxError as e:  # a value T5Config refuses (flanx/models/config_checks.py), e.g. num_heads 0
    raise FlanxError(f"{where}/config.json: {e}") from e


def activation_dtype(hf_config: dict[str, Any], where: str) -> str:
  """The checkpoint's own dtype (transformers 5 `dtype`, 4 `torch_dtype`; float32 when absent, as transformers
  loads it). float16 becomes bfloat16: T5's activations overflow float16, which is why T5 was trained in bfloat16."""
  dtype = hf_config.get("dtype", hf_config.get("torch_dtype")) or "float32"
  dtype = str(dtype).removeprefix("torch.")
  if dtype not in ("float32", "bfloat16", "float16"):
    raise FlanxError(f"{where}/config.json: dtype {dtype!r} is not float32, bfloat16 or float16")
  return "bfloat16" if dtype == "float16" else dtype


def config_to_hf(c: T5Config) -> dict[str, Any]:
  return {
      "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "is_encoder_decoder": True,
      "vocab_size": c.vocab_size, "d_model": c.emb_dim, "d_kv": c.head_dim, "d_ff": c.mlp_dim,
      "num_heads": c.num_heads, "num_layers": c.num_encoder_layers, "num_decoder_layers": c.num_decoder_layers,
      "relative_attention_num_buckets": c.relative_attention_num_buckets,
      "relative_attention_max_distance": c.relative_attention_max_distance,
      "feed_forward_proj": SUPPORTED_FEED_FORWARD, "dense_act_fn": "gelu_new", "is_gated_act": True,
      "layer_norm_epsilon": LAYER_NORM_EPSILON, "dropout_rate": c.dropout_rate,
      # v1.1: a separate LM head and no rescaling of the decoder output (both spellings, for transformers 4 and 5).
      "tie_word_embeddings": False, "scale_decoder_outputs": False,
      "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0, "dtype": "float32",
  }


def config_from_params(shapes: dict[tuple[str, ...], tuple[int, ...]], max_distance: int) -> T5Config:
  """T5Config recovered from a flanx param tree's shapes (unscanned `layers_{i}` or scanned `layers`)."""
  def count(stack: str) -> int:
    stacked = shapes.get((stack, "layers", "mlp", "wo"))
    if stacked is not None:
      return stacked[0]
    return len({p[1] for p in shapes if p[0] == stack and p[1].startswith("layers_")})
  try:
    vocab, emb = shapes[("token_embedder", "embedding")]
    heads, buckets = shapes[("encoder", "relpos_bias", "rel_embedding")]
    mlp = next(s[-1] for p, s in shapes.items() if p[-1] == "wi_0")
    head_dim = next(s[-1] for p, s in shapes.items() if p[-1] == "query")
  except (KeyError, StopIteration) as e:
    raise FlanxError(f"not a flanx T5 checkpoint (no parameter {e.args[0] if e.args else 'query'})") from e
  return T5Config(vocab_size=vocab, emb_dim=emb, num_heads=heads, head_dim=head_dim, mlp_dim=mlp,
                  num_encoder_layers=count("encoder"), num_decoder_layers=count("decoder"),
                  relative_attention_num_buckets=buckets, relative_attention_max_distance=max_distance)
