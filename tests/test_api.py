"""The public API: an import smoke test and the curated names."""

import subprocess
import sys

import symlip
from tests.clirun import run_cli


def test_public_names_resolve():
    for name in symlip.__all__:
        assert getattr(symlip, name) is not None, name


def test_version_and_cli_entry_point():
    assert symlip.__version__
    r = run_cli("--version")
    assert r.returncode == 0 and symlip.__version__ in r.stdout


def test_no_verb_prints_help_and_exits_2():
    r = run_cli()
    assert r.returncode == 2 and "usage" in r.stdout


def test_readme_python_example_runs(capsys):
    """The five-line Python example in README.md runs as printed."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README.md has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Lipschitz" in out or "\\le" in out


def test_import_is_lazy():
    """`import symlip` loads no SymPy or mpmath; the first public name used does."""
    code = ("import sys, symlip; assert 'sympy' not in sys.modules, 'sympy'; "
            "assert 'mpmath' not in sys.modules, 'mpmath'; symlip.input_lipschitz; "
            "assert 'sympy' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def test_dir_lists_the_public_names():
    assert set(symlip.__all__) <= set(dir(symlip))
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        symlip.nope  # noqa: B018


def test_curated_names_and_aliases():
    """About 25 curated names in ``__all__``; the former flat names still resolve (not
    listed), and a misspelt one is an AttributeError naming it."""
    assert 20 <= len(symlip.__all__) <= 30, symlip.__all__
    assert not set(symlip._ALIASES) & set(symlip.__all__)
    for name in symlip._ALIASES:
        if name == "track":  # the torch extra
            continue
        assert getattr(symlip, name) is not None, name


def _resolve(dotted: str):
    """``symlip.a.b.C.d`` -> the object: import the longest module prefix, then getattr."""
    import importlib

    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(dotted)


def test_every_name_in_readme_and_docs_resolves():
    """Each ``symlip.X...`` written in README.md and docs/*.md names something that exists
    (a curated name, an alias of the former flat API, or a module path)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    texts = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    names = set()
    for path in texts:
        # not a "module:function" reference (the registry's strings, examples included)
        names |= set(re.findall(r"\bsymlip(?:\.[A-Za-z_]\w*)+(?!\w|:\w|\.\w)",
                                path.read_text("utf-8")))
    assert names
    missing = []
    for dotted in sorted(names):
        try:
            _resolve(dotted)
        except (AttributeError, AssertionError):
            missing.append(dotted)
    assert not missing, missing
