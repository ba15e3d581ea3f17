"""flanx convert: Hugging Face T5 / Flan-T5 checkpoints <-> flanx checkpoints.

  flanx convert from-hf --hf_dir DIR --out CKPT_DIR [--scan_layers] [--num_partitions N] [--rules NAME]
  flanx convert to-hf --checkpoint CKPT_DIR --out DIR

from-hf writes CKPT_DIR/checkpoint_0/params (the trainer's orbax layout, so INITIAL_CHECKPOINT_PATH and the
evaluator take it), CKPT_DIR/model.gin (the matching model) and, when the directory ships one, a copy of
its SentencePiece model. Parameters are read one at a time and put straight onto their target sharding.
"""

import contextlib
import json
import os
import pathlib
import re
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import seqio
from flax import traverse_util

from flanx import checkpoints, errors, partitioning
from flanx.errors import FlanxError
from flanx.hf import t5_mapping
from flanx.hf.t5_mapping import Tensor
from flanx.hf.weights import HfWeights
from flanx.models.encoder_decoder import EncoderDecoderModel
from flanx.models.t5 import T5Config

VOCAB_FILE = "spiece.model"
GIN_FILE = "model.gin"
# Any small lengths do: they only shape the dummy batch that param shapes are traced with.
_TRACE_LENGTHS = {"inputs": 8, "targets": 8}


# --- from-hf -----------------------------------------------------------------------------------------


def read_hf_config(hf_dir: pathlib.Path) -> dict:
  if not hf_dir.is_dir():
    raise FlanxError(f"--hf_dir {hf_dir} is not a directory")
  path = hf_dir / "config.json"
  if not path.is_file():
    raise FlanxError(f"{hf_dir} is not a T5 checkpoint directory (no config.json)")
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise FlanxError(f"{path} is not valid JSON: {e}") from e


def _shapes_model(config: T5Config) -> EncoderDecoderModel:
  """The model of `config`, for its parameters' shapes and logical axes (any vocabulary does)."""
  return EncoderDecoderModel(config, seqio.ByteVocabulary())


def _target_shardings(config: T5Config, partitioner: partitioning.Partitioner,
                      settings: str = partitioning.LAYOUT_SETTINGS
                      ) -> dict[tuple[str, ...], tuple[tuple[int, ...], jax.sharding.NamedSharding]]:
  """Each flanx parameter's path -> (its shape, its NamedSharding), from the model's logical axes (nothing
  allocated). A parameter the mesh splits unevenly is one line naming `settings` (what chose the mesh)."""
  traced = partitioner.checked_abstract_params(_shapes_model(config), _TRACE_LENGTHS, settings)
  abstract = traverse_util.flatten_dict(partitioner.with_shardings(*traced))
  return {path: (a.shape, a.sharding) for path, a in abstract.items()}


def _grouped(config: T5Config, scan_layers: bool) -> dict[tuple[str, ...], list[Tensor]]:
  """Target param path -> the HF tensors it is built from (one, or one per layer stacked under scan)."""
  groups: dict[tuple[str, ...], list[Tensor]] = {}
  for t in t5_mapping.tensors(config):
    p = t.flanx_path
    key = (p[0], "layers") + p[2:] if scan_layers and len(p) > 2 and p[1].startswith("layers_") else p
    groups.setdefault(key, []).append(t)
  return groups


def _read(weights: HfWeights, t: Tensor, expected: tuple[int, ...], scale_outputs: bool, emb_dim: int) -> np.ndarray:
  name = t.hf_name
  # transformers ties these to shared.weight and may leave them out of the file.
  fallbacks = {"lm_head.weight": "shared.weight", "shared.weight": "encoder.embed_tokens.weight"}
  if name not in weights and fallbacks.get(name) in weights:
    name = fallbacks[name]
  if name not in weights:
    raise FlanxError(f"{weights.hf_dir}: missing tensor {t.hf_name}")
  if weights.shape(name) != expected:
    raise FlanxError(f"{weights.hf_dir}: config.json does not match the weights: {name} has shape "
                     f"{weights.shape(name)}, the config implies {expected}")
  w = t.to_flanx(weights.get(name))
  if t.hf_name == "lm_head.weight" and scale_outputs:
    # Original T5 scales the decoder output by d_model**-0.5; folding it into the kernel is exact.
    w = w * np.float32(emb_dim ** -0.5)
  return w


def _open_weights(hf_dir: pathlib.Path) -> HfWeights:
  try:
    return HfWeights(hf_dir)
  except FlanxError:
    raise
  except Exception as e:  # torch.load(weights_only=True) refusing a pickle raises UnpicklingError
    if "weights_only" in str(e) or "Unpickl" in type(e).__name__:
      raise FlanxError(
          f"{hf_dir}: the PyTorch weights can only be loaded by unpickling code, which flanx refuses; convert them "
          f"to safetensors first: python -c \"from transformers import AutoModelForSeq2SeqLM as M; "
          f"M.from_pretrained('{hf_dir}').save_pretrained('{hf_dir}', safe_serialization=True)\"") from None
    raise


def load_hf_params(hf_dir: pathlib.Path, hf_config: dict, config: T5Config, partitioner: partitioning.Partitioner,
                   settings: str = partitioning.LAYOUT_SETTINGS):
  """The directory's tensors as flanx params, each put straight onto its sharding on `partitioner`'s mesh.
  The layout is checked (one line naming `settings`) before any tensor is looked for."""
  targets = _target_shardings(config, partitioner, settings)
  weights = _open_weights(hf_dir)
  groups = _grouped(config, config.scan_layers)
  if set(groups) != set(targets):
    unknown = sorted("/".join(p) for p in set(targets) ^ set(groups))
    raise FlanxError(f"flanx's T5 and the converter disagree on parameters: {', '.join(unknown[:5])}")
  hf_shapes = t5_mapping.hf_shapes(config)
  scale = t5_mapping.scaled_decoder_outputs(hf_config)
  flat = {}
  for path, group in groups.items():
    shape, sharding = targets[path]
    parts = [_read(weights, t, hf_shapes[t.hf_name], scale, config.emb_dim) for t in group]
    host = np.stack(parts) if config.scan_layers and path[1:2] == ("layers",) else parts[0]
    # Each device copies only its own slice of the host tensor, and the host tensor is dropped before the
    # next one is read: the model is never held whole on the host next to its device copy.
    flat[path] = jax.make_array_from_callback(shape, sharding, lambda index, h=host: np.asarray(h[index], np.float32))
    del parts, host
  return traverse_util.unflatten_dict(flat)


def import_hf(hf_dir: str | pathlib.Path, out: str | pathlib.Path, scan_layers: bool = False,
              partition: partitioning.PartitionConfig | None = None,
              settings: str = partitioning.LAYOUT_SETTINGS,
              names: partitioning.LayoutNames = partitioning.LayoutNames()) -> T5Config:
  """Converts a transformers T5 directory into a flanx checkpoint directory; returns the model config.
  `settings` names what chose `partition` when it splits a parameter unevenly; `names`, what set its fields."""
  hf_dir, out = pathlib.Path(hf_dir), pathlib.Path(out).absolute()
  hf_config = read_hf_config(hf_dir)
  config = t5_mapping.config_from_hf(hf_config, str(hf_dir))
  config = T5Config(**{**config.__dict__, "scan_layers": scan_layers})
  _check_new_output(out)
  partitioner = partitioning.Partitioner(partition or partitioning.PartitionConfig(), names=names)
  # An uneven split is one line, before any tensor is read, not jax's IndivisibleError at the first parameter.
  params = load_hf_params(hf_dir, hf_config, config, partitioner, settings)

  vocab = hf_dir / VOCAB_FILE
  with _staging(out) as staging:
    saver = ocp.StandardCheckpointer()
    saver.save(staging / f"{checkpoints.STEP_PREFIX}_0" / "params", params)
    saver.wait_until_finished()
    if vocab.is_file():
      shutil.copyfile(vocab, staging / VOCAB_FILE)
    (staging / GIN_FILE).write_text(model_gin(config, out / VOCAB_FILE if vocab.is_file() else None, hf_dir))
  return config


def _check_new_output(out: pathlib.Path) -> None:
  """--out must be new (or an empty directory): never mixed into a training run or an earlier export."""
  errors.writable_dir("--out", out)
  if out.exists() and not out.is_dir():
    raise FlanxError(f"--out {out} is a file; give a new directory")
  if out.is_dir() and any(out.iterdir()):
    what = ("a training run" if (out / "config.gin").exists() or any(out.glob(f"{checkpoints.STEP_PREFIX}_*"))
            else "files")
    raise FlanxError(f"--out {out} already holds {what}; give a new or empty directory")


@contextlib.contextmanager
def _staging(out: pathlib.Path):
  """A hidden sibling directory renamed to `out` once everything is written: `out` is complete or absent."""
  staging = out.parent / f".{out.name}.tmp{os.getpid()}"
  if staging.exists():
    shutil.rmtree(staging)
  staging.mkdir(parents=True)
  try:
    yield staging
    if out.is_dir():
      out.rmdir()  # empty, checked before converting
    staging.rename(out)
  finally:
    if staging.exists():
      shutil.rmtree(staging, ignore_errors=True)


def vocabulary_note(hf_dir: pathlib.Path) -> str:
  """Which vocabulary the converted model uses when the HF directory ships no SentencePiece model."""
  return (f"{hf_dir} has no {VOCAB_FILE}: the converted model uses T5's SentencePiece vocabulary "
          f"from DATA_DIR/vocab/spiece.model, which must then exist); set vocab.sentencepiece.path in {GIN_FILE} "
          f"to use another")


def model_gin(config: T5Config, vocab_path: pathlib.Path | None, source: pathlib.Path) -> str:
  lines = [f"# Converted from the Hugging Face checkpoint {source.absolute()} by `flanx convert from-hf`.",
           "include 'models/t5_1_1/architecture.gin'", ""]
  if vocab_path is not None:
    lines += ["# The SentencePiece model shipped with the checkpoint, used as is.",
              f"vocab.sentencepiece.path = '{vocab_path}'"]
  else:
    lines += [f"# {vocabulary_note(source)}."]
  lines += [f"NUM_EMBEDDINGS = {config.vocab_size}", f"SCAN_LAYERS = {config.scan_layers}",
            "# The checkpoint's dtype (its config.json); override with --gin.ACTIVATION_DTYPE=\"'bfloat16'\".",
            f"ACTIVATION_DTYPE = '{config.dtype}'"]
  for field in ("emb_dim", "mlp_dim", "num_encoder_layers", "num_decoder_layers", "num_heads", "head_dim",
                "relative_attention_num_buckets", "relative_attention_max_distance"):
    lines.append(f"T5Config.{field} = {getattr(config, field)}")
  return "\n".join(lines) + "\n"


# --- to-hf -------------------------------------------------------------------------------------------


def _max_distance(checkpoint: pathlib.Path) -> int:
  """relative_attention_max_distance is not visible in the param shapes: read it from a nearby gin file."""
  for d in (checkpoint, *checkpoint.parents[:2]):
    for name in (GIN_FILE, "config.gin"):
      f = d / name
      found = f.is_file() and re.search(r"relative_attention_max_distance\s*=\s*(\d+)", f.read_text())
      if found:
        return int(found.group(1))
  return T5Config.relative_attention_max_distance


def load_params_numpy(checkpoint: str | pathlib.Path) -> dict:
  """The checkpoint's parameters as numpy; a bad path's error line names the command's --checkpoint."""
  return checkpoints.load_params_numpy(checkpoint, name="--checkpoint")


def export_hf(checkpoint: str | pathlib.Path, out: str | pathlib.Path) -> T5Config:
  """Writes config.json + model.safetensors (+ spiece.model) that T5ForConditionalGeneration loads."""
  from safetensors.numpy import save_file

  checkpoint, out = pathlib.Path(checkpoint), pathlib.Path(out).absolute()
  _check_new_output(out)
  flat = traverse_util.flatten_dict(load_params_numpy(checkpoint))
  config = t5_mapping.config_from_params({p: a.shape for p, a in flat.items()}, _max_distance(checkpoint))
  tensors = t5_mapping.hf_tensors(config, traverse_util.unflatten_dict(flat))
  with _staging(out) as staging:
    save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
    (staging / "config.json").write_text(json.dumps(t5_mapping.config_to_hf(config), indent=2) + "\n")
    for d in (checkpoint, *checkpoint.parents[:2]):
      if (d / VOCAB_FILE).is_file():
        shutil.copyfile(d / VOCAB_FILE, staging / VOCAB_FILE)
        break
  return config
