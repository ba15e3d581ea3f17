"""Checksums of every file of a checkpoint, recorded when it is committed and verified before it is restored.

tensorstore reads flipped bytes inside an array chunk back as garbage values without complaint, and a missing
metadata file can look like a checkpoint of another model. So the Checkpointer records each file's size and
CRC-32 in `checkpoint_<step>/flanx_checksums.json` while the checkpoint is still in orbax's temporary directory
(the file is part of the atomic rename), and `verify` names the first file that is missing, resized or changed.
Checkpoints written before this file existed have none and are restored unverified.
"""

import json
import os
import zlib
from collections.abc import Callable

from etils import epath

MANIFEST = "flanx_checksums.json"
# orbax rewrites its step metadata (commit time) after the rename; it holds no training state.
_UNRECORDED = ("_CHECKPOINT_METADATA",)
_CHUNK = 1 << 22


def _crc32(path: epath.Path) -> int:
  crc = 0
  with path.open("rb") as f:
    while chunk := f.read(_CHUNK):
      crc = zlib.crc32(chunk, crc)
  return crc


def _files(directory: epath.Path) -> list[epath.Path]:
  """Every file under `directory` but the manifest (a walk: epath has no recursive glob for object stores)."""
  found = []
  for path in directory.iterdir():
    if path.is_dir():
      found += _files(path)
    elif path.name != MANIFEST:
      found.append(path)
  return sorted(found)


def record(step_dir: epath.Path) -> int:
  """Writes the manifest of every file under `step_dir` (atomically); returns their total size in bytes."""
  step_dir = epath.Path(step_dir)
  files = {}
  for path in _files(step_dir):
    if path.name in _UNRECORDED and path.parent == step_dir:
      continue
    files[str(path.relative_to(step_dir))] = [path.stat().length, _crc32(path)]
  text = json.dumps({"algorithm": "crc32", "files": files}, sort_keys=True)
  if "://" in str(step_dir):  # object stores write whole objects
    (step_dir / MANIFEST).write_text(text)
  else:
    tmp = step_dir / f".{MANIFEST}.tmp"
    tmp.write_text(text)
    os.replace(tmp, step_dir / MANIFEST)
  return sum(size for size, _ in files.values())


def recorded_bytes(step_dir: epath.Path) -> int | None:
  """The checkpoint's size when written, from its manifest; None without one."""
  step_dir = epath.Path(step_dir)
  try:
    return sum(size for size, _ in json.loads((step_dir / MANIFEST).read_text())["files"].values())
  except (OSError, ValueError, KeyError, TypeError):
    return None


def verify(step_dir: epath.Path, select: Callable[[str], bool] = lambda name: True) -> str | None:
  """None when every recorded file (of those `select` picks by relative path) is present with its size and
  checksum; else what is wrong with the first that differs. A checkpoint without a manifest (written by an older
  flanx) is not checked: None."""
  step_dir = epath.Path(step_dir)
  manifest = step_dir / MANIFEST
  if not manifest.exists():
    return None
  try:
    files = json.loads(manifest.read_text())["files"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    return f"its {MANIFEST} is unreadable ({type(e).__name__})"
  for name, (size, crc) in sorted(files.items()):
    if not select(name):
      continue
    path = step_dir / name
    if not path.exists():
      return f"{name} is missing"
    actual = path.stat().length
    if actual != size:
      return f"{name} has {actual} bytes, {size} when written"
    if _crc32(path) != crc:
      return f"{name} does not match its checksum"
  return None
