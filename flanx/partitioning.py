"""The device mesh and the sharding policy: logical axis names -> mesh axes.

The mesh has three axes: `replica` (slices joined over DCN), `data` and `model`. The batch is split over
`replica` x `data`; what else is split, and over which axis, is one of the short rule lists below.
Rules are tried in order; a logical axis whose mesh axis is already used by another dimension of the same
array falls through to its next rule (or stays unsharded), which is how FSDP shards a parameter's
`embed` over `data` while an activation's `batch` already occupies `data`.
"""

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence

import flax.linen as nn
import gin
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from flanx.errors import FlanxError, closest

MESH_AXES = ("replica", "data", "model")
BATCH_AXES = ("replica", "data")
# The settings that choose a training run's mesh and rules (gin macros), named when a layout is refused.
LAYOUT_SETTINGS = "MESH_SHAPE / NUM_PARTITIONS / PARTITIONING_RULES"


@dataclasses.dataclass(frozen=True)
class LayoutNames:
  """What a command's user sets a PartitionConfig's fields by (gin macros or flags), named in the line that
  refuses them (rules that name no mesh axis, a mesh the devices cannot hold). The defaults are train's macros."""

  rules: str = "PARTITIONING_RULES"
  num_partitions: str = "NUM_PARTITIONS"
  mesh_shape: str = "MESH_SHAPE"
  num_slices: str = "PartitionConfig.num_slices"

  @classmethod
  def scoped(cls, scope: str, num_partitions: str) -> "LayoutNames":
    """A command's own gin scope (eval.gin's `eval/PartitionConfig`), whose model-parallel size is a macro."""
    return cls(rules=f"{scope}/PartitionConfig.rules", num_partitions=num_partitions,
               mesh_shape=f"{scope}/PartitionConfig.mesh_shape", num_slices=f"{scope}/PartitionConfig.num_slices")


LogicalRules = tuple[tuple[str, str | tuple[str, ...] | None], ...]

_BATCH: LogicalRules = (("batch", BATCH_AXES),)
_MODEL_PARALLEL: LogicalRules = (("mlp", "model"), ("heads", "model"), ("vocab", "model"))

RULE_PRESETS: dict[str, LogicalRules] = {
    # Every parameter replicated; only the batch is split.
    "data_parallel": _BATCH,
    # Parameters (and optimizer state) split over `data` along `embed`; activations stay batch-split.
    "fsdp": _BATCH + (("embed", "data"),),
    # Megatron-style: MLP, heads and vocabulary split over `model`.
    "model_parallel": _BATCH + _MODEL_PARALLEL,
    # Both: parameters split over `model` and, along `embed`, over `data` (T5X's 2-D parameter partitioning).
    "model_parallel_2d": _BATCH + _MODEL_PARALLEL + (("embed", "data"),),
}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PartitionConfig:
  """How to lay the devices out and shard the model.

  num_partitions: model-parallel size; `data` takes the remaining devices. Ignored when mesh_shape is set.
  mesh_shape: explicit (data, model) or (replica, data, model); one entry may be -1 (the rest).
  num_slices: slices joined over DCN (the `replica` axis) when mesh_shape is not given.
  rules: a RULE_PRESETS name or an explicit list of (logical axis, mesh axis) pairs.
  topology: the slice the run is sized for (e.g. 'v4-64'); `flanx plan` checks the run fits it. Training
    itself uses the devices it finds.
  """

  num_partitions: int = 1
  mesh_shape: Sequence[int] | None = None
  num_slices: int = 1
  rules: str | Sequence[tuple[str, str | tuple[str, ...] | None]] = "model_parallel"
  topology: str | None = None

  def logical_rules(self, names: LayoutNames = LayoutNames()) -> LogicalRules:
    if isinstance(self.rules, str):
      if self.rules not in RULE_PRESETS:
        raise FlanxError(f"{names.rules}: unknown partitioning rules {self.rules!r}"
                         f"{closest(self.rules, RULE_PRESETS)}; presets: {', '.join(RULE_PRESETS)}")
      return RULE_PRESETS[self.rules]
    rules = tuple((name, tuple(axis) if isinstance(axis, list) else axis) for name, axis in self.rules)
    for name, axis in rules:
      for mesh_axis in mesh_axes_of(axis):
        if mesh_axis not in MESH_AXES:  # else a KeyError (or jax's own error) at the first sharding
          raise FlanxError(f"{names.rules}: {name!r} is put on the mesh axis {mesh_axis!r}, which does not "
                           f"exist{closest(str(mesh_axis), MESH_AXES)}; mesh axes: {', '.join(MESH_AXES)}")
    return rules

  def mesh_dims(self, num_devices: int, names: LayoutNames = LayoutNames()) -> tuple[int, int, int]:
    """(replica, data, model) sizes for `num_devices` devices; `names` says what set each field, for the error."""
    if self.mesh_shape is not None:
      given = f"{names.mesh_shape}={tuple(self.mesh_shape)}"
      shape = list(self.mesh_shape)
      if len(shape) == 2:
        shape = [1] + shape
      if len(shape) != 3:
        raise FlanxError(f"{given} must have 2 (data, model) or 3 (replica, data, model) entries")
      if shape.count(-1) > 1:
        raise FlanxError(f"{given} may contain at most one -1")
      known = int(np.prod([s for s in shape if s != -1]))
      if -1 in shape:
        if known <= 0 or num_devices % known:
          raise FlanxError(f"{given} does not divide the {num_devices} available devices")
        shape[shape.index(-1)] = num_devices // known
      if int(np.prod(shape)) != num_devices:
        raise FlanxError(f"{given} needs {int(np.prod(shape))} devices, but {num_devices} are available")
      return tuple(int(s) for s in shape)
    per_slice, remainder = divmod(num_devices, self.num_slices)
    if remainder or per_slice % self.num_partitions:
      slices = f" x {names.num_slices}={self.num_slices}" if self.num_slices != 1 else ""
      raise FlanxError(f"{names.num_partitions}={self.num_partitions}{slices} does not divide the {num_devices} "
                       f"available devices")
    return self.num_slices, per_slice // self.num_partitions, self.num_partitions


def make_mesh(config: PartitionConfig, devices: Sequence[jax.Device] | None = None,
              names: LayoutNames = LayoutNames()) -> Mesh:
  devices = list(devices if devices is not None else jax.devices())
  replica, data, model = config.mesh_dims(len(devices), names)
  auto = (jax.sharding.AxisType.Auto,) * 3
  if replica > 1 and hasattr(devices[0], "slice_index"):
    # Multi-slice TPU: `replica` crosses slices (DCN); `data` and `model` stay inside a slice (ICI).
    grid = mesh_utils.create_hybrid_device_mesh((1, data, model), (replica, 1, 1), devices)
    return Mesh(grid, MESH_AXES, axis_types=auto)
  return jax.make_mesh((replica, data, model), MESH_AXES, axis_types=auto, devices=devices)


def abstract_params(model, feature_lengths: Mapping[str, int]):
  """(parameter ShapeDtypeStructs, their logical PartitionSpecs) of `model`, traced without allocating or
  needing a mesh (which is how `flanx plan` sizes a pod's model on one machine)."""
  return _split_boxed(_boxed_params(model, feature_lengths))


def _boxed_params(model, feature_lengths: Mapping[str, int]):
  return jax.eval_shape(functools.partial(model.init, feature_lengths=dict(feature_lengths)), jax.random.key(0))


def _split_boxed(boxed):
  # Outside any mesh context: unboxing under one would apply the logical constraints to the shapes themselves.
  return nn.meta.unbox(boxed), nn.get_partition_spec(boxed)


class Partitioner:
  """A model on a mesh, built once from a PartitionConfig: the mesh, the logical rules, parameter shardings
  from an abstract model, the context that resolves logical constraints, and a jit that runs inside it.

  Training, planning, decoding, restoring for inference, conversion and the benchmarks take one of these
  instead of each building its own mesh-and-rules context.
  """

  def __init__(self, config: PartitionConfig = PartitionConfig(), devices: Sequence[jax.Device] | None = None,
               names: LayoutNames = LayoutNames()):
    """`names`: what set `config`'s fields, named when its rules or its mesh are refused."""
    self.config = config
    self.rules: LogicalRules = config.logical_rules(names)
    self.mesh: Mesh = make_mesh(config, devices, names)

  @contextlib.contextmanager
  def context(self):
    """Mesh and logical rules in scope, so with_logical_constraint inside a model resolves."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
      yield

  def abstract_params(self, model, feature_lengths: Mapping[str, int]):
    """(parameter ShapeDtypeStructs, their logical PartitionSpecs), traced without allocating anything."""
    with self.context():
      boxed = _boxed_params(model, feature_lengths)
    return _split_boxed(boxed)

  def checked_abstract_params(self, model, feature_lengths: Mapping[str, int], settings: str = LAYOUT_SETTINGS):
    """(parameter ShapeDtypeStructs, their logical PartitionSpecs), after one FlanxError line if this mesh and
    these rules split one of the parameters unevenly. One trace serves the check and what follows (a Trainer's
    state, a restore's target): on XXL each trace takes seconds. Traced outside the mesh context, so that an
    uneven layout reaches the check instead of failing inside the trace."""
    shapes, logical_specs = abstract_params(model, feature_lengths)
    check_even_split(shapes, logical_specs, self.rules, dict(self.mesh.shape), settings)
    return shapes, logical_specs

  def shardings(self, logical_specs):
    """A tree of logical PartitionSpecs -> NamedShardings on this mesh under these rules."""
    return logical_to_shardings(logical_specs, self.mesh, self.rules)

  def param_shardings(self, model, feature_lengths: Mapping[str, int]):
    """NamedShardings of `model`'s parameters on this mesh."""
    return self.shardings(self.abstract_params(model, feature_lengths)[1])

  def sharded_abstract_params(self, model, feature_lengths: Mapping[str, int]):
    """ShapeDtypeStructs of `model`'s parameters carrying their target shardings: what a restore fills in."""
    return self.with_shardings(*self.abstract_params(model, feature_lengths))

  def with_shardings(self, shapes, logical_specs):
    """Abstract parameters (from `abstract_params`) carrying their shardings on this mesh."""
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes,
                        self.shardings(logical_specs))

  def init_params(self, model, feature_lengths: Mapping[str, int], rng: jax.Array):
    """Freshly initialised parameters of `model`, created directly in their shardings (benchmarks, tests)."""
    lengths = dict(feature_lengths)
    init = self.jit(lambda key: nn.meta.unbox(model.init(key, lengths)),
                    out_shardings=self.param_shardings(model, lengths))
    return init(rng)

  @property
  def batch_sharding(self) -> NamedSharding:
    return batch_sharding(self.mesh)

  @property
  def replicated(self) -> NamedSharding:
    return replicated(self.mesh)

  @property
  def data_parallel_size(self) -> int:
    return data_parallel_size(self.mesh)

  def jit(self, fn: Callable, **jit_kwargs) -> "_Partitioned":
    """jax.jit(fn, **jit_kwargs), called (and lowered) inside this partitioner's context."""
    return _Partitioned(self, jax.jit(fn, **jit_kwargs))


@dataclasses.dataclass(frozen=True)
class _Partitioned:
  partitioner: Partitioner
  jitted: Callable

  def __call__(self, *args):
    with self.partitioner.context():
      return self.jitted(*args)

  def lower(self, *args):
    with self.partitioner.context():
      return self.jitted.lower(*args)


def data_parallel_size(mesh: Mesh) -> int:
  return int(np.prod([mesh.shape[a] for a in BATCH_AXES]))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over replica x data; the rest replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def logical_to_shardings(logical_specs, mesh: Mesh, rules: LogicalRules):
  """A tree of logical PartitionSpecs -> a tree of NamedShardings on `mesh`."""
  return nn.logical_to_mesh_sharding(logical_specs, mesh, rules)


def mesh_axes_of(axis) -> tuple[str, ...]:
  """A rule's or PartitionSpec entry's mesh axes: None, one name, or several."""
  return () if axis is None else (axis,) if isinstance(axis, str) else tuple(axis)


def split_size(axis, mesh_shape: Mapping[str, int]) -> int:
  """How many pieces a dimension laid out over `axis` is cut into on a mesh of `mesh_shape`."""
  return int(np.prod([mesh_shape[a] for a in mesh_axes_of(axis)]))


def uneven_split(shapes, logical_specs, rules: LogicalRules, mesh_shape: Mapping[str, int],
                 settings: str = LAYOUT_SETTINGS) -> str | None:
  """The first parameter dimension these rules split unevenly on this mesh, as the line that refuses it, or None.

  jit refuses such a layout deep inside its first compile (IndivisibleError); train, plan and plan --search ask
  here first, from abstract shapes, so nothing is restored or compiled for a layout that cannot run."""
  mesh_specs = nn.logical_to_mesh(logical_specs, rules)
  spec_leaves = jax.tree.leaves(mesh_specs, is_leaf=lambda x: isinstance(x, PartitionSpec))
  logical_leaves = jax.tree.leaves(logical_specs, is_leaf=lambda x: isinstance(x, PartitionSpec))
  for (path, shape), spec, logical in zip(jax.tree_util.tree_leaves_with_path(shapes), spec_leaves, logical_leaves):
    for index, (dim, axis, name) in enumerate(zip(shape.shape, tuple(spec), tuple(logical))):
      pieces = split_size(axis, mesh_shape)
      if dim % pieces:
        over = " x ".join(f"{a}={mesh_shape[a]}" for a in mesh_axes_of(axis))
        mesh = ", ".join(f"{a}={mesh_shape[a]}" for a in MESH_AXES if a in mesh_shape)
        return (f"parameter {jax.tree_util.keystr(path, simple=True, separator='/')} has a dimension of {dim} "
                f"(dimension {index}, {name!r}), not divisible by {over} on the mesh {mesh}; change {settings}")
  return None


def check_even_split(shapes, logical_specs, rules: LogicalRules, mesh_shape: Mapping[str, int],
                     settings: str = LAYOUT_SETTINGS) -> None:
  """One FlanxError line for a parameter these rules split unevenly on this mesh (see uneven_split)."""
  line = uneven_split(shapes, logical_specs, rules, mesh_shape, settings)
  if line:
    raise FlanxError(line)
