"""Reading a Hugging Face checkpoint's tensors one at a time, without loading the whole model.

safetensors files are parsed here and memory-mapped, so a tensor is read from disk only when it is
used and BF16 works without torch. PyTorch state dicts go through `torch.load(weights_only=True)`,
which refuses to unpickle code.
"""

import dataclasses
import json
import pathlib
import struct

import ml_dtypes
import numpy as np

from flanx.errors import FlanxError

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
                       "I64": np.int64, "I32": np.int32}
# Single-file and sharded (index) layouts, in the order transformers prefers them.
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
TORCH_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclasses.dataclass(frozen=True)
class _Entry:
  file: pathlib.Path
  dtype: np.dtype
  shape: tuple[int, ...]
  offset: int  # absolute byte offset in the file (safetensors), unused for torch files


class HfWeights:
  """Name -> tensor access over one checkpoint directory's weight files (single or sharded)."""

  def __init__(self, hf_dir: pathlib.Path):
    self.hf_dir = hf_dir
    self._entries: dict[str, _Entry] = {}
    self._torch_cache: dict[pathlib.Path, dict] = {}
    files = self._weight_files()
    for f in files:
      if f.suffix == ".safetensors":
        self._entries.update(_safetensors_entries(f))
      else:
        for name, tensor in self._torch_state(f).items():
          self._entries[name] = _Entry(f, np.dtype(np.float32), tuple(tensor.shape), -1)

  def _weight_files(self) -> list[pathlib.Path]:
    for name in SAFETENSORS_FILES + TORCH_FILES:
      path = self.hf_dir / name
      if not path.is_file():
        continue
      if name.endswith(".index.json"):
        weight_map = json.loads(path.read_text())["weight_map"]
        return [self.hf_dir / f for f in sorted(set(weight_map.values()))]
      return [path]
    raise FlanxError(f"{self.hf_dir} has no weights (looked for {', '.join(SAFETENSORS_FILES + TORCH_FILES)})")

  def _torch_state(self, path: pathlib.Path) -> dict:
    if path not in self._torch_cache:
      try:
        import torch
      except ImportError as e:
        raise FlanxError(f"{path.name} is a PyTorch file: reading it needs torch (pip install 'flanx[hf]')") from e
      # weights_only: tensors and plain containers only, never arbitrary pickled code. mmap avoids a copy.
      self._torch_cache[path] = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return self._torch_cache[path]

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def names(self) -> list[str]:
    return list(self._entries)

  def shape(self, name: str) -> tuple[int, ...]:
    return self._entries[name].shape

  def get(self, name: str) -> np.ndarray:
    """The tensor as float32 (memory-mapped until sliced or transformed)."""
    e = self._entries[name]
    if e.offset < 0:
      return self._torch_state(e.file)[name].float().numpy()
    return np.memmap(e.file, dtype=e.dtype, mode="r", offset=e.offset, shape=e.shape).astype(np.float32, copy=False)


def _safetensors_entries(path: pathlib.Path) -> dict[str, _Entry]:
  """The tensors a safetensors file holds; a truncated or damaged file is one line before anything is mapped
  (numpy's memmap would say only "mmap length is greater than file size")."""
  size = path.stat().st_size
  again = "download or copy it again"
  with open(path, "rb") as f:
    head = f.read(8)
    if len(head) < 8:
      raise FlanxError(f"{path} is truncated or not a safetensors file ({size} bytes): {again}")
    (header_size,) = struct.unpack("<Q", head)
    if header_size > size - 8:
      raise FlanxError(f"{path} is truncated or not a safetensors file (a {header_size}-byte header in a file of "
                       f"{size} bytes): {again}")
    try:
      header = json.loads(f.read(header_size))
    except ValueError as e:
      raise FlanxError(f"{path} is damaged: its header is not JSON ({e}): {again}") from e
  header.pop("__metadata__", None)
  entries = {}
  for name, info in header.items():
    if info["dtype"] not in _SAFETENSORS_DTYPES:
      raise FlanxError(f"{path.name}: tensor {name} has unsupported dtype {info['dtype']}")
    end = 8 + header_size + info["data_offsets"][1]
    if end > size:
      raise FlanxError(f"{path} is truncated: tensor {name} ends at byte {end:,} but the file has {size:,} bytes: "
                       f"{again}")
    entries[name] = _Entry(path, np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]), tuple(info["shape"]),
                           8 + header_size + info["data_offsets"][0])
  return entries
