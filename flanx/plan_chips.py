"""Accelerator memory by generation, and slice names ('v4-64', 'v5litepod-16', '2xv4-64', 'h100-16') -> devices.

Figures are per JAX device, which is what a sharded array is split over: a TPU v2/v3 chip shows two devices
(one per core), later TPUs (megacore v4/v5p, single-core v5e/v6e) and GPUs show one.
"""

import dataclasses
import re

from flanx.errors import FlanxError, closest

GIB = 1024**3
GB = 1000**3


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  bytes_per_device: int
  # How a slice name counts: 'cores' (v2, v3, v4, v5p: TensorCores, two per chip) or 'devices'.
  counts: str
  cores_per_device: int = 1
  # JAX devices one host (one process) drives: TPU VMs have 4 chips (v2/v3: 4 chips, 8 cores); GPU hosts 8.
  devices_per_host: int = 4

  def devices(self, count: int) -> int:
    return count // self.cores_per_device if self.counts == "cores" else count


CHIPS: dict[str, Chip] = {c.name: c for c in (
    Chip("v2", 8 * GIB, "cores", devices_per_host=8),   # 16 GiB per chip, two cores, each its own device
    Chip("v3", 16 * GIB, "cores", devices_per_host=8),  # 32 GiB per chip, two devices
    Chip("v4", 32 * GIB, "cores", cores_per_device=2),  # megacore: one device per chip
    Chip("v5p", 95 * GIB, "cores", cores_per_device=2),
    Chip("v5litepod", 16 * GIB, "devices"),             # v5e
    Chip("v6e", 32 * GIB, "devices"),
    Chip("a100-40gb", 40 * GB, "devices", devices_per_host=8),
    Chip("a100-80gb", 80 * GB, "devices", devices_per_host=8),
    Chip("h100", 80 * GB, "devices", devices_per_host=8),
    Chip("h200", 141 * GB, "devices", devices_per_host=8),
)}
ALIASES = {"v5e": "v5litepod", "a100": "a100-40gb"}
_TOPOLOGY = re.compile(r"^(?:(\d+)x)?([a-z0-9-]+?)-(\d+)$")


@dataclasses.dataclass(frozen=True)
class Topology:
  name: str
  chip: Chip
  num_slices: int
  devices_per_slice: int

  @property
  def num_devices(self) -> int:
    return self.num_slices * self.devices_per_slice

  @property
  def devices_per_host(self) -> int:
    """A slice smaller than a host (v4-8, h100-2) is one host."""
    return min(self.chip.devices_per_host, self.devices_per_slice)

  @property
  def num_hosts(self) -> int:
    return self.num_devices // self.devices_per_host


def parse_topology(name: str) -> Topology:
  """'v4-64' (one slice), '2xv4-64' (two slices over DCN), 'h100-16' (16 GPUs) -> Topology."""
  match = _TOPOLOGY.match(name.strip().lower())
  chip_name = ALIASES.get(match.group(2), match.group(2)) if match else None
  if not match or chip_name not in CHIPS:
    known = sorted(CHIPS) + sorted(ALIASES)
    hint = closest(match.group(2), known) if match else ""
    raise FlanxError(f"--topology {name!r}: expected GENERATION-COUNT such as v4-64, v5litepod-16, h100-8 or "
                     f"2xv4-64{hint}; generations: {', '.join(known)}")
  chip, count = CHIPS[chip_name], int(match.group(3))
  slices = int(match.group(1) or 1)
  if count < 1 or slices < 1 or chip.devices(count) < 1 or count % chip.cores_per_device:
    raise FlanxError(f"--topology {name!r}: {count} is not a valid {chip.name} slice size")
  return Topology(name, chip, slices, chip.devices(count))
