"""`flanx plan`'s command line (flanx/plan.py is the planner it drives; flanx/plan_search.py, --search)."""

import argparse
from collections.abc import Sequence

from flanx import cli, gin_config, plan_chips  # light: flanx.plan (jax, flax) once the flags are known to be usable
from flanx.errors import FlanxError


class _Parser(argparse.ArgumentParser):
  def error(self, message: str):  # one line through flanx's error path, not usage plus message
    raise FlanxError(message)


def main(argv: Sequence[str]) -> int:
  gin_files, bindings, rest = gin_config.split_args(argv)
  planner = cli.without_importing("flanx.plan")
  parser = _Parser(prog="flanx plan", description=str(planner["__doc__"]).split("\n\n")[0],
                   epilog="Gin: --gin_file=FILE (repeatable) and --gin.NAME=VALUE overrides.")
  parser.add_argument("--topology", help="slice such as v4-64, 2xv4-64 (multislice), v5litepod-16, h100-8; "
                      "default: TOPOLOGY from the gin file")
  parser.add_argument("--mesh", help="replica=R,data=D,model=M (missing axes are 1); default: MESH_SHAPE from "
                      "the gin file, else NUM_PARTITIONS")
  parser.add_argument("--compile", action="store_true",
                      help="also compile the train step on simulated CPU devices "
                           f"(at most {planner['MAX_SIMULATED_DEVICES']})")
  parser.add_argument("--search", action="store_true", help="try every layout legal on the slice (mesh, rules, "
                      "microbatches, remat, scan) and print the fastest that fit (flanx/plan_search.py)")
  parser.add_argument("--search_compile", metavar="K", help="with --search: compile the best K layouts by "
                      "prediction and rank them by the compiled program (default 3)")
  args = parser.parse_args(rest)
  from flanx import plan
  gin_config.check_command_line(gin_files, [], "runs/flan_t5_xl.gin")
  if args.search or args.search_compile is not None:
    from flanx import plan_search
    plan_search.check_flags(args)
  mesh = plan.parse_mesh(args.mesh) if args.mesh is not None else None
  if args.compile and mesh is not None:
    plan.ensure_simulated_devices(mesh["replica"] * mesh["data"] * mesh["model"])
  inputs = plan.load(gin_files, bindings)
  if args.topology is None and not inputs.partition.topology:
    raise FlanxError("no slice to plan for: pass --topology (e.g. v4-64) or set TOPOLOGY in the gin file")
  topology = plan_chips.parse_topology(args.topology if args.topology is not None else inputs.partition.topology)
  if args.compile and mesh is None:
    plan.ensure_simulated_devices(topology.num_devices)
  if args.search:
    if topology.num_devices <= plan.MAX_SIMULATED_DEVICES:
      plan.ensure_simulated_devices(topology.num_devices)
    return plan_search.run(inputs, topology, gin_files, args.search_compile)
  planned = plan.make_plan(inputs, topology, mesh)
  compiled = cost = None
  if args.compile:
    from flanx import plan_cost

    step = plan.compile_train_step(planned)
    compiled, cost = plan.compiled_memory(planned, step), plan_cost.compiled_cost(planned, step)
  print(plan.report(planned, gin_files, compiled, cost), flush=True)
  return 0 if planned.fits else 1
