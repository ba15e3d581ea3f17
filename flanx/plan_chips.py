"""Accelerator memory and speed by generation, and slice names ('v4-64', 'v5litepod-16', '2xv4-64', 'h100-16')
-> devices.

Figures are per JAX device, which is what a sharded array is split over: a TPU v2/v3 chip shows two devices
(one per core), later TPUs (megacore v4/v5p, single-core v5e/v6e) and GPUs show one. So v2/v3 figures are half
a chip's.

Speed conventions (docs/tpu.md, "The time model"):
  peak_flops       dense bf16 FLOP/s (NVIDIA's datasheets also quote a 2x "with sparsity" figure: not used).
  hbm_bytes_per_s  memory bandwidth.
  ici_bytes_per_s  what one device can send at once over all its ICI (NVLink) links, one direction: Cloud TPU's
                   "Interchip Interconnect BW" in Gbps / 8, which is half its "bidirectional GBps" figure
                   (v5e: 1600 Gbps = 200 GB/s out = "400 GBps bidirectional").
  dcn_bytes_per_s  the host's NIC bandwidth divided among its devices (one direction).
"""

import dataclasses
import re

from flanx.errors import FlanxError, closest

GIB = 1024**3
GB = 1000**3
TERA = 1e12
GBPS = 1e9 / 8  # one gigabit per second, in bytes per second


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  bytes_per_device: int
  # How a slice name counts: 'cores' (v2, v3, v4, v5p: TensorCores, two per chip) or 'devices'.
  counts: str
  cores_per_device: int = 1
  # JAX devices one host (one process) drives: TPU VMs have 4 chips (v2/v3: 4 chips, 8 cores); GPU hosts 8.
  devices_per_host: int = 4
  peak_flops: float = 0.0       # per device; 0 = unknown (a chip without figures cannot be timed)
  hbm_bytes_per_s: float = 0.0
  ici_bytes_per_s: float = 0.0
  dcn_bytes_per_s: float = 0.0

  @property
  def has_speed(self) -> bool:
    return min(self.peak_flops, self.hbm_bytes_per_s, self.ici_bytes_per_s, self.dcn_bytes_per_s) > 0

  def devices(self, count: int) -> int:
    return count // self.cores_per_device if self.counts == "cores" else count


# Sources: Cloud TPU system-architecture pages (cloud.google.com/tpu/docs/v2, v3, v4, v5e, v5p, v6e); the v2/v3
# ICI links from Jouppi et al., "Ten lessons from three generations shaped Google's TPUv4i" (ISCA 2021, Table 1);
# v4's links from Jouppi et al., "TPU v4: an optically reconfigurable supercomputer" (ISCA 2023); NVIDIA's A100,
# H100 and H200 datasheets (SXM parts) and DGX A100/H100 user guides for the NICs.
CHIPS: dict[str, Chip] = {c.name: c for c in (
    # v2 chip: 45 TFLOP/s, 16 GiB HBM at 600 GB/s, 4 ICI links of 496 Gbps; two cores, each its own device.
    # DCN: no published figure; v4's 50 Gbps per chip assumed.
    Chip("v2", 8 * GIB, "cores", devices_per_host=8, peak_flops=22.5 * TERA, hbm_bytes_per_s=300 * GB,
         ici_bytes_per_s=4 * 496 * GBPS / 2, dcn_bytes_per_s=50 * GBPS / 2),
    # v3 chip: 123 TFLOP/s, 32 GiB HBM at 900 GB/s, 4 ICI links of 656 Gbps; two devices. DCN as v2.
    Chip("v3", 16 * GIB, "cores", devices_per_host=8, peak_flops=61.5 * TERA, hbm_bytes_per_s=450 * GB,
         ici_bytes_per_s=4 * 656 * GBPS / 2, dcn_bytes_per_s=50 * GBPS / 2),
    # v4 (megacore: one device per chip): 275 TFLOP/s, 32 GiB HBM2 at 1200 GB/s; 6 ICI links of 400 Gbps each
    # way (ISCA 2023). DCN: no published per-host figure; v5p's 50 Gbps per chip assumed.
    Chip("v4", 32 * GIB, "cores", cores_per_device=2, peak_flops=275 * TERA, hbm_bytes_per_s=1200 * GB,
         ici_bytes_per_s=6 * 400 * GBPS, dcn_bytes_per_s=50 * GBPS),
    # v5p: 459 TFLOP/s, 95 GiB HBM2e at 2765 GB/s, ICI 4800 Gbps (1200 GBps bidirectional), DCN 50 Gbps per chip.
    Chip("v5p", 95 * GIB, "cores", cores_per_device=2, peak_flops=459 * TERA, hbm_bytes_per_s=2765 * GB,
         ici_bytes_per_s=4800 * GBPS, dcn_bytes_per_s=50 * GBPS),
    # v5e: 197 TFLOP/s, 16 GB HBM2 at 819 GB/s, ICI 1600 Gbps (400 GBps bidirectional); 8-chip hosts with
    # 2 x 100 Gbps NICs.
    Chip("v5litepod", 16 * GIB, "devices", peak_flops=197 * TERA, hbm_bytes_per_s=819 * GB,
         ici_bytes_per_s=1600 * GBPS, dcn_bytes_per_s=2 * 100 * GBPS / 8),
    # v6e: 918 TFLOP/s, 32 GB HBM at 1600 GB/s, ICI 3200 Gbps; 8-chip hosts with 4 x 200 Gbps NICs.
    Chip("v6e", 32 * GIB, "devices", peak_flops=918 * TERA, hbm_bytes_per_s=1600 * GB,
         ici_bytes_per_s=3200 * GBPS, dcn_bytes_per_s=4 * 200 * GBPS / 8),
    # A100 SXM: 312 TFLOP/s dense bf16; HBM2 1555 GB/s (40 GB), HBM2e 2039 GB/s (80 GB); NVLink 3: 600 GB/s
    # bidirectional; DGX A100: one 200 Gbps HDR InfiniBand NIC per GPU.
    Chip("a100-40gb", 40 * GB, "devices", devices_per_host=8, peak_flops=312 * TERA, hbm_bytes_per_s=1555 * GB,
         ici_bytes_per_s=300 * GB, dcn_bytes_per_s=200 * GBPS),
    Chip("a100-80gb", 80 * GB, "devices", devices_per_host=8, peak_flops=312 * TERA, hbm_bytes_per_s=2039 * GB,
         ici_bytes_per_s=300 * GB, dcn_bytes_per_s=200 * GBPS),
    # H100 SXM: 989 TFLOP/s dense bf16, HBM3 3.35 TB/s, NVLink 4: 900 GB/s bidirectional; DGX H100: one 400 Gbps
    # NDR InfiniBand NIC per GPU.
    Chip("h100", 80 * GB, "devices", devices_per_host=8, peak_flops=989 * TERA, hbm_bytes_per_s=3350 * GB,
         ici_bytes_per_s=450 * GB, dcn_bytes_per_s=400 * GBPS),
    # H200 SXM: H100's compute and NVLink, HBM3e 4.8 TB/s.
    Chip("h200", 141 * GB, "devices", devices_per_host=8, peak_flops=989 * TERA, hbm_bytes_per_s=4800 * GB,
         ici_bytes_per_s=450 * GB, dcn_bytes_per_s=400 * GBPS),
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
