"""The package's layering (docs/architecture.md), checked on every import, function-level ones too.

Each module of csr_bench/ belongs to a layer; a module may import its own layer and the layers
below, never one above. Two packages have extra rules: reporting reads result files and imports
only the base and the scorers' declarations; the embedded world is a data and model provider that
only the model registry (and the ``csr-bench world`` command) may import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "csr_bench"

# Layer of each top-level module or subpackage, lowest first (docs/architecture.md gives the reasons).
LAYERS = {
    "base": {"csr_bench", "errors", "storage", "faults", "progress", "distributed", "safety",
             "redaction", "images", "prompt_text", "lazy", "compat", "coco", "judge", "world_at_chance"},
    "pieces": {"models", "tasks", "scorers", "builders", "preference_data"},
    "reporting": {"reporting"},
    "world": {"world"},
    "evaluation": {"evaluation"},
    "methods": {"methods", "training"},
    "entry points": {"run", "cli", "__main__", "interop"},
}
ORDER = list(LAYERS)
LAYER_OF = {part: ORDER.index(layer) for layer, parts in LAYERS.items() for part in parts}

# The registry is the world's gateway: its world imports sit inside functions, run when a world
# model, data root, prompt folder or CLIP is asked for.
WORLD_IMPORTERS = {"csr_bench.models.registry", "csr_bench.cli.model_commands"}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str) -> list[tuple[int, str]]:
    """(line, imported csr_bench module) for every import in ``module``, at any depth; ``from X import
    y`` counts as importing X.y when X.y is a module, and relative imports are resolved."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                found.append((node.lineno, f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target))
    return [(line, name) for line, name in found if name == "csr_bench" or name.startswith("csr_bench.")]


def part_of(module: str) -> str:
    """The top-level module or subpackage ``module`` belongs to ("csr_bench" for the package itself)."""
    return module.split(".")[1] if "." in module else module


def edges() -> list[tuple[str, int, str]]:
    return [(module, line, imported) for module in MODULES for line, imported in imports(module)]


def test_every_module_has_a_layer():
    assert sorted({part_of(m) for m in MODULES} - set(LAYER_OF)) == []


def test_imports_go_down_the_layers():
    upward = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {imported} "
              f"({ORDER[LAYER_OF[part_of(m)]]} -> {ORDER[LAYER_OF[part_of(imported)]]})"
              for m, line, imported in edges()
              if LAYER_OF[part_of(imported)] > LAYER_OF[part_of(m)]
              and not (m in WORLD_IMPORTERS and part_of(imported) == "world")]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_only_the_registry_and_the_cli_import_the_world():
    outside = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {imported}"
               for m, line, imported in edges()
               if part_of(imported) == "world" and part_of(m) != "world" and m not in WORLD_IMPORTERS]
    assert not outside, "the world imported outside its gateway:\n" + "\n".join(outside)


def test_the_registry_imports_the_world_only_when_asked():
    tree = ast.parse(MODULES["csr_bench.models.registry"].read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    named = [(node, name) for node in top_level for name in
             ([alias.name for alias in node.names] if isinstance(node, ast.Import)
              else [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names])]
    # the world package, not a base module about it (world_at_chance)
    assert [ast.unparse(node) for node, name in named if part_of(name) == "world"] == []


def test_reporting_imports_only_the_base_and_the_scorers():
    allowed = LAYERS["base"] | {"scorers", "reporting"}
    outside = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {imported}"
               for m, line, imported in edges()
               if part_of(m) == "reporting" and part_of(imported) not in allowed]
    assert not outside, "reporting imports beyond the base and the scorers:\n" + "\n".join(outside)


def test_scorers_never_import_tasks():
    """Among the pieces, tasks -> scorers only: a task names its scorer, a scorer knows no task."""
    back = [f"{MODULES[m].relative_to(PACKAGE.parent)}:{line} imports {imported}"
            for m, line, imported in edges() if part_of(m) == "scorers" and part_of(imported) == "tasks"]
    assert not back, "scorers import tasks:\n" + "\n".join(back)


def test_no_module_imports_another_modules_private_names():
    """A name another module needs is public (the world's CLIP training once used the scorer's ``_pil``)."""
    private = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name} from {node.module}"
               for path in MODULES.values() for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("csr_bench"))
               for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not private, "\n".join(private)


def test_leaf_modules_stay_leaves():
    assert {imported for _, imported in imports("csr_bench.images")} == {"csr_bench.errors"}
    assert imports("csr_bench.prompt_text") == []


def test_imports_are_resolved_as_python_does(tmp_path, monkeypatch):
    """The parser sees function-level, relative and ``from package import module`` imports."""
    package = tmp_path / "csr_bench"
    (package / "tasks").mkdir(parents=True)
    for name in ("__init__.py", "errors.py", "tasks/__init__.py", "tasks/config.py"):
        (package / name).write_text("")
    (package / "tasks" / "data.py").write_text(
        "from . import config\nfrom ..errors import E\n\ndef f():\n    from csr_bench import errors, x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "MODULES",
                        {module_name(p): p for p in sorted(package.rglob("*.py"))})
    assert imports("csr_bench.tasks.data") == [(1, "csr_bench.tasks.config"), (2, "csr_bench.errors"),
                                               (5, "csr_bench.errors"), (5, "csr_bench")]
