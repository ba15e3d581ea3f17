"""No import cycle among flanx's and tasks' modules, counting the imports inside functions too; the input path
names the task module it loads (DatasetConfig.module) instead of importing `tasks` itself."""

import ast
import pathlib

from tests.helpers import REPO_ROOT


def _modules() -> dict[str, pathlib.Path]:
  found = {}
  for path in [*REPO_ROOT.glob("flanx/**/*.py"), *REPO_ROOT.glob("tasks/**/*.py")]:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return found


def _imports(name: str, path: pathlib.Path, modules) -> set[str]:
  """Every module of `modules` that `path` imports, at any depth of its code."""
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
      found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
  return {m for m in found if m in modules and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One cycle of `graph` as a path that returns to its start, or None."""
  state: dict[str, int] = {}  # 1: on the current path, 2: done

  def visit(node: str, path: list[str]):
    state[node] = 1
    for nxt in sorted(graph[node]):
      if state.get(nxt) == 1:
        return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
      if nxt not in state and (found := visit(nxt, path + [node])):
        return found
    state[node] = 2
    return None

  for start in sorted(graph):
    if start not in state and (found := visit(start, [])):
      return found
  return None


def test_no_import_cycle():
  modules = _modules()
  graph = {name: _imports(name, path, modules) for name, path in modules.items()}
  cycle = _cycle(graph)
  assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_input_path_does_not_import_the_tasks_package():
  modules = _modules()
  for name in [m for m in modules if m.startswith("flanx.input")] + ["flanx.train", "flanx.gin_config",
                                                                     "flanx.predict", "flanx.infer"]:
    assert not {m for m in _imports(name, modules[name], modules) if m.split(".")[0] == "tasks"}, name


def test_the_task_module_is_named_by_configuration():
  import gin
  import pytest

  from flanx import gin_config
  from flanx.errors import FlanxError
  from flanx.input import seqio_source
  with pytest.raises(FlanxError, match=r"MIXTURE_OR_TASK_MODULE='no_such_tasks': no such Python module"):
    seqio_source.check_task_name("flanx_demo", "no_such_tasks")
  gin_config.parse(["runs/demo.gin"], ["MODEL_DIR = '/tmp/unused'"], finalize=False)
  assert gin.query_parameter("%MIXTURE_OR_TASK_MODULE") == "tasks"  # today's default, as T5X's gin files name theirs
