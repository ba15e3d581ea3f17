"""The `flanx` command: one subcommand per module, each module exposing `main(argv) -> int`."""

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence

from flanx import supervisor
from flanx.errors import FlanxError

# subcommand -> (module with main(argv), one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("flanx.train", "finetune a model from gin files (same as python -m flanx.train)"),
    "eval": ("flanx.eval", "score a checkpoint on the held-out suite (same as python -m flanx.eval)"),
    "infer": ("flanx.infer", "run a task's inputs through a checkpoint (same as python -m flanx.infer)"),
    "generate": ("flanx.generate", "decode prompts from a text file with a checkpoint"),
    "score": ("flanx.generate", "print the log-likelihood of given targets"),
    "inspect": ("flanx.inspect", "show a mixture's tasks, rates, examples and lengths"),
    "data": ("flanx.data_status", "list which data sources are present (status); cache a mixture (cache)"),
    "convert": ("flanx.convert", "import or export Hugging Face checkpoints"),
    "bench": ("flanx.bench", "benchmarks: train, data, decode, eval"),
}


def run(main: Callable[[Sequence[str]], int | None], argv: Sequence[str], prog: str = "flanx") -> int:
  """Runs an entry point, printing a FlanxError as one line (exit 2) instead of a traceback."""
  try:
    return int(main(argv) or 0)
  except FlanxError as e:
    lines = str(e).splitlines()
    print(f"{prog}: error: {lines[0] if lines else type(e).__name__}", file=sys.stderr)
    return 2


def available() -> dict[str, tuple[str, str]]:
  return {name: spec for name, spec in COMMANDS.items() if importlib.util.find_spec(spec[0]) is not None}


def usage() -> str:
  lines = ["usage: flanx COMMAND [args...]", "", "commands:"]
  lines += [f"  {name:<10} {help_}" for name, (_, help_) in available().items()]
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(usage())
    return 0
  commands = available()
  name = argv[0]
  if name not in commands:
    from flanx.errors import closest
    print(f"flanx: error: unknown command {name!r}{closest(name, commands)}\n\n{usage()}", file=sys.stderr)
    return 2
  if name == "train" and supervisor.wanted(argv[1:]):
    return supervisor.supervise("flanx.train", argv[1:])
  module = importlib.import_module(commands[name][0])
  # Modules serving several commands (generate/score) take the command name as their first argument.
  args = argv if getattr(module, "TAKES_COMMAND_NAME", False) else argv[1:]
  return run(module.main, args, prog=f"flanx {name}")


if __name__ == "__main__":
  sys.exit(main())
