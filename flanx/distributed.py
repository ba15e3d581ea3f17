"""Joining JAX's multi-controller runtime from a command line: the flags train, eval and infer share.

  --coordinator_address=HOST:PORT --num_processes=N --process_id=I   (explicit; gloo collectives on CPUs)
  --multihost                                                        (TPU VMs: JAX finds the coordinator)

Every process of the job runs the same command; `initialize` must come after gin is parsed (the timeouts
are gin macros) and before anything touches a device.
"""

import dataclasses
from collections.abc import Sequence

import gin
import jax

from flanx.errors import FlanxError, first_line

FLAGS = ("--coordinator_address", "--num_processes", "--process_id")
MULTIHOST = "--multihost"


@dataclasses.dataclass(frozen=True)
class DistributedArgs:
  """The distributed flags of one command line, checked. coordinator_address None: no explicit flags."""
  coordinator_address: str | None = None
  num_processes: int = 1
  process_id: int = 0
  multihost: bool = False


def split_args(args: Sequence[str]) -> tuple[DistributedArgs, list[str]]:
  """Pulls --coordinator_address/--num_processes/--process_id (`--flag=value` or `--flag value`) and --multihost
  out of the arguments, checked: a bad or missing value is one line naming the flag."""
  found, multihost, rest = {}, False, []
  args = list(args)
  while args:
    arg = args.pop(0)
    name, eq, value = arg.partition("=")
    if name in FLAGS:
      if not eq and args and not args[0].startswith("--"):
        value = args.pop(0)
      found[name[2:]] = value
    elif arg == MULTIHOST:
      multihost = True
    else:
      rest.append(arg)
  if not found:
    return DistributedArgs(multihost=multihost), rest
  return DistributedArgs(*_checked(found), multihost=multihost), rest


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DistributedTimeouts:
  """How long the distributed runtime waits before declaring a process dead (HEARTBEAT_TIMEOUT_SECONDS) and,
  at exit, for the others to arrive (SHUTDOWN_TIMEOUT_SECONDS). A process that loses a peer exits non-zero
  within about the heartbeat timeout instead of hanging in a collective."""
  heartbeat_timeout_seconds: int = 100
  shutdown_timeout_seconds: int = 300
  initialization_timeout: int = 300

  def kwargs(self) -> dict:
    return dataclasses.asdict(self)


def _checked(found: dict[str, str]) -> tuple[str, int, int]:
  """(coordinator address, number of processes, this process's id), or one line naming the bad flag."""
  missing = [f for f in ("coordinator_address", "num_processes", "process_id") if f not in found]
  if missing:
    raise FlanxError(f"multi-process runs need all of --coordinator_address, --num_processes, --process_id "
                     f"(missing --{missing[0]})")
  address = found["coordinator_address"]
  host, _, port = address.rpartition(":")
  if not host or not port.isdigit():
    raise FlanxError(f"--coordinator_address={address!r} must be HOST:PORT (e.g. 10.0.0.2:8476)")
  numbers = {}
  for flag, minimum in (("num_processes", 1), ("process_id", 0)):
    value = found[flag]
    try:
      numbers[flag] = int(value)
    except ValueError:
      raise FlanxError(f"--{flag}={value!r} is not an integer") from None
    if numbers[flag] < minimum:
      raise FlanxError(f"--{flag}={value} must be at least {minimum}")
  if numbers["process_id"] >= numbers["num_processes"]:
    raise FlanxError(f"--process_id={numbers['process_id']} must be below --num_processes="
                     f"{numbers['num_processes']} (ids count from 0)")
  return address, numbers["num_processes"], numbers["process_id"]


def initialize(args: DistributedArgs) -> None:
  """JAX's multi-controller runtime: explicit coordinator flags, or auto-detection (TPU pods) with --multihost.

  Call after gin is parsed (the timeouts come from gin) and before anything touches a device."""
  timeouts = DistributedTimeouts().kwargs()
  if args.coordinator_address is not None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # only used where devices are CPUs
    try:
      jax.distributed.initialize(coordinator_address=args.coordinator_address, num_processes=args.num_processes,
                                 process_id=args.process_id, **timeouts)
    except (ValueError, RuntimeError) as e:
      raise FlanxError(f"process {args.process_id} could not join the job at --coordinator_address="
                       f"{args.coordinator_address}: {first_line(e)}") from e
  elif args.multihost:
    try:
      jax.distributed.initialize(**timeouts)
    except (ValueError, RuntimeError) as e:  # not a TPU VM (or a cluster JAX detects): nothing says who coordinates
      raise FlanxError(f"--multihost: JAX found no job to join here ({first_line(e)}); outside TPU VMs pass "
                       f"--coordinator_address=HOST:PORT --num_processes=N --process_id=I instead") from e
