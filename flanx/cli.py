"""The `flanx` command: one subcommand per module, each module exposing `main(argv) -> int`."""

import ast
import importlib
import importlib.util
import os
import pathlib
import re
import sys
from collections.abc import Callable, Sequence

from flanx import quiet, supervisor
from flanx.errors import FlanxError, first_line

# subcommand -> (module with main(argv), one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("flanx.train", "finetune a model from gin files (same as python -m flanx.train)"),
    "eval": ("flanx.eval", "score a checkpoint on the held-out suite (same as python -m flanx.eval)"),
    "infer": ("flanx.infer", "run a task's inputs through a checkpoint (same as python -m flanx.infer)"),
    "generate": ("flanx.generate", "decode prompts from a text file with a checkpoint"),
    "score": ("flanx.generate", "print the log-likelihood of given targets"),
    "inspect": ("flanx.inspect", "show a mixture's tasks, rates, examples and lengths"),
    "data": ("flanx.data_status", "list which data sources are present (status); cache a mixture (cache)"),
    "convert": ("flanx.convert_cli", "import or export Hugging Face checkpoints"),
    "bench": ("flanx.bench", "benchmarks: train, data, decode, eval"),
    "plan": ("flanx.plan_cli", "per-device memory of a run on a TPU slice or GPU cluster: does it fit?"),
}


# Gin-driven commands: the run file whose macros --help lists (gin/runs/, with their comments).
GIN_COMMANDS = {"train": "finetune.gin", "eval": "eval.gin", "infer": "infer.gin"}
_MACRO_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.*?)\s*(?:#\s*(.*))?$")


def without_importing(module: str) -> dict[str, object]:
  """A flanx module's docstring (as '__doc__') and its top-level constants that are plain literals, read from its
  source: what a --help shows of a module whose import takes seconds (jax, tensorflow, seqio)."""
  path = pathlib.Path(__file__).parent.joinpath(*module.split(".")[1:]).with_suffix(".py")
  tree = ast.parse(path.read_text())
  found: dict[str, object] = {"__doc__": ast.get_docstring(tree) or ""}
  for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
      found.update({target.id: node.value.value for target in node.targets if isinstance(target, ast.Name)})
  return found


def gin_help(name: str) -> str:
  """`flanx train|eval|infer --help`, from the module docstring and the run file, without importing either
  the module or jax/tensorflow/seqio."""
  doc = str(without_importing(COMMANDS[name][0])["__doc__"])
  run_file = pathlib.Path(__file__).resolve().parent.parent / "gin" / "runs" / GIN_COMMANDS[name]
  lines = [f"usage: flanx {name} --gin_file=FILE [--gin_file=FILE ...] [--gin.MACRO=VALUE ...]", "", doc.strip(), "",
           f"macros (defaults from gin/runs/{GIN_COMMANDS[name]}; strings need quotes: --gin.MODEL_DIR=\"'runs/x'\"):"]
  for line in run_file.read_text().splitlines() if run_file.is_file() else []:
    macro = _MACRO_LINE.match(line)
    if macro:
      default = "(required)" if "gin.REQUIRED" in macro.group(2) else macro.group(2)
      lines.append(f"  {macro.group(1):<26} {default:<28} {macro.group(3) or ''}".rstrip())
  return "\n".join(lines)


def run(main: Callable[[Sequence[str]], int | None], argv: Sequence[str], prog: str = "flanx") -> int:
  """Runs an entry point, printing a FlanxError as one line (exit 2) instead of a traceback."""
  try:
    return int(main(argv) or 0)
  except FlanxError as e:
    print(f"{prog}: error: {first_line(e)}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:  # Ctrl-C outside training's own handler (start-up, decoding, a second Ctrl-C)
    print(f"{prog}: interrupted", file=sys.stderr)
    return 130


def available() -> dict[str, tuple[str, str]]:
  return {name: spec for name, spec in COMMANDS.items() if importlib.util.find_spec(spec[0]) is not None}


def usage() -> str:
  lines = ["usage: flanx COMMAND [args...]", "", "commands:"]
  lines += [f"  {name:<10} {help_}" for name, (_, help_) in available().items()]
  return "\n".join(lines)


class _StdoutUnwritable(Exception):
  pass


class _CheckedStdout:
  """sys.stdout, telling its own write errors apart from those of the files a command writes (which report
  themselves): `flanx score ... > /dev/full` is one line, not a traceback."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str) -> int:
    try:
      return self._stream.write(text)
    except BrokenPipeError:
      raise
    except OSError as e:
      raise _StdoutUnwritable(e.strerror or str(e)) from e

  def flush(self) -> None:
    try:
      self._stream.flush()
    except BrokenPipeError:
      raise
    except OSError as e:
      raise _StdoutUnwritable(e.strerror or str(e)) from e

  def __getattr__(self, name: str):
    return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
  stdout = sys.stdout
  sys.stdout = _CheckedStdout(stdout)
  try:
    status = dispatch(list(sys.argv[1:] if argv is None else argv), prog)
    sys.stdout.flush()  # here, not at exit, so that a stdout that cannot be written is reported below
    return status
  except BrokenPipeError:
    # Whoever read stdout stopped (`flanx eval --help | head`): end quietly, as Unix tools do, and point
    # stdout at /dev/null so the interpreter's final flush does not print the same error again.
    _discard(stdout)
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
  except _StdoutUnwritable as e:
    _discard(stdout)
    print(f"{prog or 'flanx'}: error: cannot write standard output: {e}", file=sys.stderr)
    return 2
  finally:
    sys.stdout = stdout


def _discard(stdout) -> None:
  os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())


def dispatch(argv: list[str], prog: str | None) -> int:
  quiet.environment()
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(usage())
    return 0
  commands = available()
  name = argv[0]
  if name not in commands:
    from flanx.errors import closest
    print(f"flanx: error: unknown command {name!r}{closest(name, commands)}\n\n{usage()}", file=sys.stderr)
    return 2
  if name in GIN_COMMANDS and any(a in ("-h", "--help") for a in argv[1:]):
    print(gin_help(name))
    return 0
  if name == "train" and supervisor.wanted(argv[1:]):
    return supervisor.supervise("flanx.train", argv[1:])
  # No TensorFlow import here: a command imports what it needs when it needs it, and quiet.environment() above
  # has made TensorFlow's first import, wherever it happens, a quiet one.
  module = importlib.import_module(commands[name][0])
  # Modules serving several commands (generate/score) take the command name as their first argument.
  args = argv if getattr(module, "TAKES_COMMAND_NAME", False) else argv[1:]
  return run(module.main, args, prog=prog or f"flanx {name}")


if __name__ == "__main__":
  sys.exit(main())
