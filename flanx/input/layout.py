"""Which rows each host reads: the data layout, derived from the mesh.

The global batch's first dimension is split over the mesh's batch axes (replica x data), as T5X splits it: there
are replica x data data shards of BATCH_SIZE / (replica x data) rows each, and shard s is what the devices at
batch coordinate s hold (every device along `model` at that coordinate holds the same rows). A process reads
each shard its devices hold, shard s always from slice s of num_shards of the stream, with the same seed. So:
  * processes whose devices hold the same shard (a model axis that spans hosts) read exactly the same rows;
  * the rows of a run depend on the batch axes only, not on how many hosts there are, so a resume on another
    host count with the same data-shard count continues the same sequence.

The layout is computed from a grid of process ids shaped like the mesh: the real mesh's devices, or, for
`flanx plan`, hosts of `devices_per_host` consecutive devices (how jax.make_mesh orders a slice's devices).
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from flanx.errors import FlanxError
from flanx.partitioning import MESH_AXES


@dataclasses.dataclass(frozen=True)
class DataLayout:
  """How BATCH_SIZE rows are split into data shards and which processes read each shard."""
  batch_size: int
  mesh_shape: Mapping[str, int]
  shard_processes: tuple[tuple[int, ...], ...]  # shard -> the processes whose devices hold it, ascending
  num_processes: int

  @property
  def num_shards(self) -> int:
    return len(self.shard_processes)

  @property
  def rows_per_shard(self) -> int:
    return self.batch_size // self.num_shards

  def shards_of(self, process: int) -> tuple[int, ...]:
    """The shards `process` reads, ascending (none when it holds no device of the mesh)."""
    return tuple(s for s, procs in enumerate(self.shard_processes) if process in procs)

  def shard_rows(self, shard: int) -> slice:
    """The global batch rows of `shard`."""
    return slice(shard * self.rows_per_shard, (shard + 1) * self.rows_per_shard)

  def describe(self) -> list[str]:
    """The layout in a few lines: hosts, shards, rows per shard, and which hosts share a shard."""
    shared = [(s, p) for s, p in enumerate(self.shard_processes) if len(p) > 1]
    per_host = {len(self.shards_of(p)) for p in range(self.num_processes)}
    lines = [f"data layout: {self.num_processes} host(s), {self.num_shards} data shard(s) (replica x data) of "
             f"{self.rows_per_shard} row(s) each; each host reads {_counts(per_host)} shard(s)"]
    if not shared:
      lines.append("  no two hosts share a data shard")
      return lines
    width = max(len(p) for _, p in shared)
    lines.append(f"  {len(shared)} shard(s) are read by {width} hosts each (the model axis spans hosts), "
                 f"identically: " + "; ".join(f"shard {s}: hosts {_span(p)}" for s, p in shared[:4])
                 + ("; ..." if len(shared) > 4 else ""))
    return lines


def _counts(values: set[int]) -> str:
  return str(values.pop()) if len(values) == 1 else f"{min(values)} to {max(values)}"


def _span(processes: tuple[int, ...]) -> str:
  if len(processes) > 2 and processes == tuple(range(processes[0], processes[-1] + 1)):
    return f"{processes[0]}-{processes[-1]}"
  return ",".join(map(str, processes))


def check_batch(batch_size: int, num_shards: int, mesh_shape: Mapping[str, int], num_microbatches: int = 1,
                names: tuple[str, str] = ("BATCH_SIZE", "NUM_MICROBATCHES")) -> None:
  """The batch splits into whole rows per data shard, and per microbatch; one line naming the setting."""
  batch_name, microbatches_name = names
  mesh = ", ".join(f"{a}={mesh_shape[a]}" for a in MESH_AXES)
  if batch_size % num_shards:
    raise FlanxError(f"{batch_name}={batch_size} is not divisible by the {num_shards} data shards (replica x data "
                     f"of the mesh {mesh})")
  if num_microbatches > 1 and batch_size % (num_shards * num_microbatches):
    raise FlanxError(f"{batch_name}={batch_size} is not divisible by {microbatches_name}={num_microbatches} x "
                     f"the {num_shards} data shards (mesh {mesh})")


def layout_of(process_grid: np.ndarray, batch_size: int, num_microbatches: int = 1,
              names: tuple[str, str] = ("BATCH_SIZE", "NUM_MICROBATCHES")) -> DataLayout:
  """The layout of a (replica, data, model) grid of process ids; a batch that does not split is one line."""
  grid = np.asarray(process_grid)
  if grid.ndim != 3:
    raise ValueError(f"a process grid is (replica, data, model), got shape {grid.shape}")
  mesh_shape = dict(zip(MESH_AXES, map(int, grid.shape)))
  per_shard = grid.reshape(grid.shape[0] * grid.shape[1], grid.shape[2])
  check_batch(batch_size, per_shard.shape[0], mesh_shape, num_microbatches, names)
  shard_processes = tuple(tuple(sorted({int(p) for p in row})) for row in per_shard)
  return DataLayout(batch_size, mesh_shape, shard_processes, int(grid.max()) + 1)


def from_mesh(mesh, batch_size: int, num_microbatches: int = 1,
              names: tuple[str, str] = ("BATCH_SIZE", "NUM_MICROBATCHES")) -> DataLayout:
  """The layout of a jax Mesh whose axes are MESH_AXES."""
  if tuple(mesh.axis_names) != MESH_AXES:
    raise ValueError(f"the mesh's axes are {mesh.axis_names}, expected {MESH_AXES}")
  grid = np.vectorize(lambda d: d.process_index, otypes=[int])(mesh.devices)
  return layout_of(grid, batch_size, num_microbatches, names)


def simulated(mesh_shape: Mapping[str, int], devices_per_host: int, batch_size: int, num_microbatches: int = 1,
              names: tuple[str, str] = ("BATCH_SIZE", "NUM_MICROBATCHES")) -> DataLayout:
  """The layout on hosts of `devices_per_host` devices each, consecutive in the mesh's row-major order."""
  shape = tuple(int(mesh_shape[a]) for a in MESH_AXES)
  count = int(np.prod(shape))
  hosts = max(1, devices_per_host)
  if count > hosts and count % hosts:
    raise FlanxError(f"a mesh of {count} devices does not fill hosts of {hosts} devices")
  return layout_of(np.arange(count).reshape(shape) // hosts, batch_size, num_microbatches, names)
