"""The import rule of docs/architecture.md, checked on the source (no import is executed).

Every ``import`` / ``from ... import`` of every module under ``symlip/`` is read with
:mod:`ast`, at module level and inside functions (plus ``importlib.import_module`` calls
with a literal name), and three rules are checked:

(a) layers import only downward:
    errors, _version -> arith -> symbolic -> activations -> models -> bounds ->
    certificate -> cli / app / torch -> the API (symlip/__init__.py, the facade
    symlip/cde.py, symlip/__main__.py); a module may import its own layer and any lower
    one;
(b) no library module imports the CLI (symlip.cli is imported only by itself and by
    symlip/__main__.py);
(c) no import cycle among module-level imports ("cycle: ..."): Python would fail on it
    depending on which module is imported first;
(d) no circle either once function-local imports are counted ("circle: ..."): a local
    import only hides a two-way dependency (issue #14 counted four).

``KNOWN_VIOLATIONS`` lists violations tolerated for now (none today). The test fails on
a violation that is not listed, and on a listed one that no longer occurs (delete its
line): the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "symlip"

#: layer rank of each top-level part of the package (higher may import lower)
LAYERS: dict[str, int] = {
    "symlip.errors": 0,
    "symlip._version": 0,
    "symlip._files": 0,  # atomic file writes (certificates, reports)
    "symlip.arith": 1,
    "symlip.symbolic": 2,
    "symlip.activations": 3,
    "symlip.models": 4,
    "symlip.bounds": 5,
    "symlip.certificate": 6,
    "symlip.cli": 7,
    "symlip.app": 7,
    "symlip.torch": 7,
    "symlip.cde": 8,  # the public facade of controlled ODEs
    "symlip.__main__": 8,
    "symlip": 8,  # symlip/__init__.py: the curated API
}

#: Violations tolerated for now (none today). A listed one that no longer occurs fails
#: the test ("no longer occurs": delete the line), so the list only shrinks.
KNOWN_VIOLATIONS: set[str] = set()


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer_of(mod: str) -> int:
    parts = mod.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"{mod}: no layer in LAYERS (add its folder)")


def _is_package(mod: str) -> bool:
    return MODULES.get(mod, Path()).name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    """The symlip modules an ``from X import a, b`` statement imports."""
    if node.level:  # relative: from the importer's package
        base = importer.split(".")
        if not _is_package(importer):
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    if target != "symlip" and not target.startswith("symlip."):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in MODULES else target)
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports(mod: str) -> list[tuple[str, bool]]:
    """``(imported symlip module, at module level)`` for every import in ``mod``; module
    level means executed when ``mod`` is imported (not in a function, not under
    ``if TYPE_CHECKING``)."""
    tree = ast.parse(MODULES[mod].read_text(encoding="utf-8"), str(MODULES[mod]))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((a.name, top) for a in node.names
                         if a.name == "symlip" or a.name.startswith("symlip."))
        elif isinstance(node, ast.ImportFrom):
            found.extend((t, top) for t in _resolve(mod, node))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and node.args[0].value.startswith("symlip")):
            found.append((node.args[0].value.split(":")[0], False))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                              ast.Lambda))
        if isinstance(node, ast.If) and _is_type_checking(node):
            inner = False
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return [(t, top) for t, top in found if t != mod]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def violations() -> set[str]:
    found: set[str] = set()
    graph: dict[str, set[str]] = {}
    full: dict[str, set[str]] = {}
    for mod in MODULES:
        for target, top in imports(mod):
            full.setdefault(mod, set()).add(target)
            if top:
                graph.setdefault(mod, set()).add(target)
            if layer_of(target) > layer_of(mod):
                found.add(f"layer: {mod} -> {target}")
            in_cli = mod == "symlip.cli" or mod.startswith("symlip.cli.")
            if (target == "symlip.cli" or target.startswith("symlip.cli.")) and not (
                    in_cli or mod == "symlip.__main__"):
                found.add(f"cli: {mod} -> {target}")
    cycles = _cycles(graph)
    for comp in cycles:
        found.add("cycle: " + " <-> ".join(comp))
    for comp in _cycles(full):
        if comp not in cycles:
            found.add("circle: " + " <-> ".join(comp))
    return found


def test_every_module_has_a_layer():
    for mod in MODULES:
        layer_of(mod)


def test_the_import_rule_holds_except_the_known_violations():
    found = violations()
    new = sorted(found - KNOWN_VIOLATIONS)
    gone = sorted(KNOWN_VIOLATIONS - found)
    assert not new, "new import-rule violations (see docs/architecture.md):\n" + "\n".join(new)
    assert not gone, ("fixed, delete from KNOWN_VIOLATIONS in tests/test_architecture.py:\n"
                      + "\n".join(gone))


# --------------------------------------------------------------------------------------
# the checker itself, on a small package written for the test
# --------------------------------------------------------------------------------------


@pytest.fixture
def toy(tmp_path, monkeypatch):
    files = {
        "symlip/__init__.py": "",
        "symlip/arith/__init__.py": "",
        "symlip/arith/a.py": "from symlip.arith import b\n",
        "symlip/arith/b.py": "def f():\n    from . import a\n",  # local: circle, no cycle
        "symlip/bounds/__init__.py": "",
        "symlip/bounds/x.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from symlip.cli import main\n"),
        "symlip/models/__init__.py": "",
        "symlip/models/m.py": "import importlib\nimportlib.import_module('symlip.bounds.x')\n",
        "symlip/cli/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    mods = {module_name_at(tmp_path, p): p for p in sorted((tmp_path / "symlip").rglob("*.py"))}
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "MODULES", mods)
    return tmp_path


def module_name_at(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_checker_finds_layer_cli_and_cycle_violations(toy):
    assert violations() == {
        "layer: symlip.bounds.x -> symlip.cli",  # type-only imports still obey (a)
        "cli: symlip.bounds.x -> symlip.cli",
        "layer: symlip.models.m -> symlip.bounds.x",  # importlib.import_module('...')
        "circle: symlip.arith.a <-> symlip.arith.b",  # through b's function-local import
    }
    (toy / "symlip/arith/b.py").write_text("from .a import f\n")
    found = violations()
    assert "cycle: symlip.arith.a <-> symlip.arith.b" in found
    assert "circle: symlip.arith.a <-> symlip.arith.b" not in found


def test_every_module_function_reference_resolves():
    """The lazy references written as ``"symlip.module:name"`` strings (the bound registry,
    the model loaders, ...) name something that exists: a rename in one branch cannot
    leave a table pointing at the old name (seen: ``symlip.models.cde:load``)."""
    import importlib
    import re

    refs = set()
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = re.fullmatch(r"(symlip(?:\.\w+)*):(\w+)", node.value)
                if m:
                    refs.add((mod, m.group(1), m.group(2)))
    assert refs
    missing = [f"{mod}: {target}:{name}" for mod, target, name in sorted(refs)
               if not hasattr(importlib.import_module(target), name)]
    assert not missing, missing
