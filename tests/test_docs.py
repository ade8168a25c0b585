"""Documentation checks: generated theory pages are up to date, LaTeX is well formed,
and (when mkdocs is installed) the site builds with --strict."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
THEORY = DOCS / "theory"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    try:
        from derivations.build import generate
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("theory")
    return out, generate(out)


def test_theory_pages_are_up_to_date(generated):
    _, files = generated
    stale = [name for name, text in sorted(files.items())
             if not (DOCS / name).is_file()
             or (DOCS / name).read_text(encoding="utf-8") != text]
    assert not stale, (f"stale generated pages in docs/: {stale}; regenerate with "
                       "`python -m derivations` and commit the result")
    extra = sorted(p.name for p in THEORY.iterdir()
                   if p.suffix in (".md", ".tex") and f"theory/{p.name}" not in files)
    assert not extra, f"docs/theory holds pages no script generates: {extra}"


def test_theory_pages_have_maths_and_a_worked_example(generated):
    _, files = generated
    pages = [n for n in files if n.startswith("theory/") and n.endswith(".md")
             and n != "theory/index.md"]
    assert len(pages) >= 6
    for name in pages:
        text = files[name]
        assert "\\begin{aligned}" in text, name        # symbolic steps from a Derivation
        assert "Worked example" in text, name          # one numeric example
        assert name[len("theory/"):] in files["theory/index.md"], name


def test_latex_documents_are_well_formed(generated):
    _, files = generated
    for name, text in files.items():
        if not name.endswith(".tex"):
            continue
        assert text.startswith("\\documentclass"), name
        assert text.rstrip().endswith("\\end{document}"), name
        envs = re.findall(r"\\(begin|end)\{([a-z*]+)\}", text)
        stack = []
        for kind, env in envs:
            if kind == "begin":
                stack.append(env)
            else:
                assert stack and stack.pop() == env, f"{name}: unbalanced {env}"
        assert not stack, f"{name}: unclosed {stack}"
        # braces balance outside verbatim blocks (escaped braces excluded)
        body = re.sub(r"\\begin\{verbatim\}.*?\\end\{verbatim\}", "", text, flags=re.S)
        body = body.replace("\\{", "").replace("\\}", "")
        assert body.count("{") == body.count("}"), name


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_documents_compile(generated, tmp_path):
    out, files = generated
    name = "param-recursion.tex"
    shutil.copy(out / "theory" / name, tmp_path / name)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "param-recursion.pdf").is_file()


def test_nav_pages_exist():
    yaml = pytest.importorskip("yaml")
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8")
                         .replace("!!python/name:", "__python_name__"))

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for x in node:
                yield from walk(x)
        elif isinstance(node, dict):
            for v in node.values():
                yield from walk(v)

    pages = list(walk(cfg["nav"]))
    missing = [p for p in pages if not (ROOT / "docs" / p).is_file()]
    assert not missing, f"mkdocs.yml nav names missing pages: {missing}"
    unlisted = [p.relative_to(ROOT / "docs").as_posix()
                for p in sorted((ROOT / "docs").rglob("*.md"))]
    unlisted = [p for p in unlisted if p not in pages]
    if unlisted:  # not fatal (mkdocs builds them), but they are unreachable from the nav
        warnings.warn(f"docs pages not in the mkdocs.yml nav: {unlisted}", stacklevel=1)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or
                    importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs / mkdocstrings not installed (pip install '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                        "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()


def test_sources_and_pages_have_no_control_characters():
    r"""A backslash sequence written through a non-raw string (``\f``rac, ``\b``eta,
    ``\t``heta) leaves a control character in a docstring or page, which then renders
    as a broken formula; none may be in the package, tests, benchmarks or docs."""
    bad = []
    for folder, pattern in (("symlip", "*.py"), ("tests", "*.py"), ("benchmarks", "*.py"),
                            ("derivations", "*.py"), ("docs", "*.md")):
        for path in sorted((ROOT / folder).rglob(pattern)):
            text = path.read_text(encoding="utf-8")
            hits = [i for i, ch in enumerate(text) if ord(ch) < 32 and ch not in "\n\r"]
            if hits:
                line = text.count("\n", 0, hits[0]) + 1
                bad.append(f"{path.relative_to(ROOT)}:{line}")
    assert not bad, f"control characters in {bad}"
