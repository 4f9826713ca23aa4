"""The package layout's rule: imports run one way, down the stages.

    cli -> evaluation | interop | planning -> training -> model -> data

compat and errors sit below everything; rembert_mtf.tasks (registrations)
may import data and evaluation's metric modules only; nothing imports cli.
The walk reads every module's import statements (top level and inside
functions: a lazy import is still a dependency) without importing anything.
"""

import ast
import pathlib
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rembert_mtf"
STAGES = ("data", "model", "training", "evaluation", "interop", "planning",
          "cli")
# Rank of each stage; a module may import its own stage or lower ranks.
RANK = {"compat": 0, "errors": 0, "data": 1, "model": 2, "training": 3,
        "evaluation": 4, "interop": 4, "planning": 4, "cli": 5}
# rembert_mtf.tasks registers seqio tasks: data plus the metric functions.
TASKS_MAY_IMPORT = ("rembert_mtf.data", "rembert_mtf.evaluation.metrics",
                    "rembert_mtf.evaluation.qa_answers", "rembert_mtf.compat",
                    "rembert_mtf.errors", "rembert_mtf.tasks")


def _modules():
  """{dotted name: path} of every module of rembert_mtf and its tasks."""
  found = {}
  for path in PACKAGE.rglob("*.py"):
    parts = path.relative_to(ROOT).with_suffix("").parts
    found[".".join(p for p in parts if p != "__init__")] = path
  for path in (ROOT / "tasks").glob("*.py"):
    name = "rembert_mtf.tasks" + ("" if path.stem == "__init__"
                                  else "." + path.stem)
    found[name] = path
  return found


def _imports(path, module):
  """The rembert_mtf modules `path` imports (absolute and relative)."""
  out = set()
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) -
                                            node.level + 1] + [base]).strip(".")
      for alias in node.names:
        out.add(f"{base}.{alias.name}")
  return {name for name in out if name.startswith("rembert_mtf")}


def _stage(module):
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else None


def _resolve(name, modules):
  """'rembert_mtf.training.loop.train' -> 'rembert_mtf.training.loop'."""
  while name and name not in modules:
    name = name.rpartition(".")[0]
  return name


MODULES = _modules()
GRAPH = {m: {_resolve(i, MODULES) for i in _imports(p, m)} - {"", m}
         for m, p in MODULES.items()}


def test_every_module_lives_in_a_stage():
  loose = sorted(p.name for p in PACKAGE.glob("*.py")
                 if p.stem not in ("__init__", "compat", "errors"))
  assert not loose, f"modules outside a stage package: {loose}"
  for stage in STAGES:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage /
                                       "__init__.py").read_text()))
    assert doc and "import" in doc, f"{stage}/__init__.py: say what it may import"


def test_imports_run_down_the_stages():
  upward = []
  for module, imported in sorted(GRAPH.items()):
    stage = _stage(module)
    for target in sorted(imported):
      target_stage = _stage(target)
      if stage == "tasks":
        if not target.startswith(TASKS_MAY_IMPORT):
          upward.append(f"{module} -> {target}")
        continue
      if target_stage == "tasks":
        continue  # registering tasks by name (data.registry), see below
      if target_stage == "cli" and stage != "cli":
        upward.append(f"{module} -> {target} (nothing imports cli)")
      elif RANK.get(target_stage, 0) > RANK.get(stage, 0):
        upward.append(f"{module} -> {target}")
      elif (RANK.get(target_stage) == RANK.get(stage) == 4 and
            target_stage != stage):
        upward.append(f"{module} -> {target} (sibling stages)")
  assert not upward, "imports against the layout:\n" + "\n".join(upward)


def test_no_import_cycle():
  state, cycles = {}, []

  def visit(node, path):
    state[node] = "open"
    for nxt in sorted(GRAPH.get(node, ())):
      if state.get(nxt) == "open":
        cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
      elif nxt not in state:
        visit(nxt, path + [nxt])
    state[node] = "done"

  for module in sorted(GRAPH):
    if module not in state:
      visit(module, [module])
  assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_rule_catches_an_upward_import(tmp_path):
  """The walk is not vacuous: it sees lazy imports inside functions."""
  path = tmp_path / "m.py"
  path.write_text("def f():\n  from rembert_mtf.cli import flags\n"
                  "  from ..training import loop\n")
  imports = _imports(path, "rembert_mtf.model.m")
  assert imports == {"rembert_mtf.cli.flags", "rembert_mtf.training.loop"}
  assert len(GRAPH) > 40 and any(GRAPH.values())


def test_help_loads_no_tensorflow():
  """`rembert-mtf --help` builds the whole parser from cli/ alone."""
  code = ("import sys\nfrom rembert_mtf.cli import main\n"
          "main.build_parser().format_help()\n"
          "heavy = sorted(m for m in ('tensorflow', 'seqio', 'mesh_tensorflow',"
          " 'numpy', 't5', 'gin') if m in sys.modules)\n"
          "print(heavy)")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                       capture_output=True, check=True, timeout=120).stdout
  assert out.strip() == "[]", out
