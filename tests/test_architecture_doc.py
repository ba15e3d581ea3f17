"""docs/architecture.md stays true: every module it names exists, and every top-level module is named."""

import re

from tests.helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"
FLANX = REPO_ROOT / "flanx"


def _named() -> set[str]:
  return set(re.findall(r"`([\w/.]+\.py)`", DOC.read_text()))


def test_every_module_named_exists():
  existing = {p.relative_to(REPO_ROOT).as_posix() for top in ("flanx", "tasks", "tests")
              for p in REPO_ROOT.glob(f"{top}/**/*.py")}
  names = {p.rsplit("/", 1)[-1] for p in existing}
  # A path is checked as written; a bare name (`t5.py` in the flanx/models/ row) must name some module.
  missing = [n for n in _named() if (n not in existing if "/" in n else n not in names)]
  assert not missing, f"docs/architecture.md names modules that do not exist: {sorted(missing)}"


def test_every_top_level_module_and_package_is_named():
  text, named = DOC.read_text(), {n.rsplit("/", 1)[-1] for n in _named()}
  modules = [p.name for p in FLANX.glob("*.py") if p.name != "__init__.py"]
  packages = [p.name for p in FLANX.iterdir() if (p / "__init__.py").is_file()]
  assert not [m for m in modules if m not in named], "top-level modules missing from docs/architecture.md"
  assert not [p for p in packages if f"`flanx/{p}/`" not in text], "packages missing from docs/architecture.md"
