"""The public API: an import smoke test and the curated names."""

import subprocess
import sys

import symlip


def test_public_names_resolve():
    for name in symlip.__all__:
        assert getattr(symlip, name) is not None, name


def test_version_and_cli_entry_point():
    assert symlip.__version__
    r = subprocess.run([sys.executable, "-m", "symlip", "--version"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and symlip.__version__ in r.stdout


def test_no_verb_prints_help_and_exits_2():
    r = subprocess.run([sys.executable, "-m", "symlip"], capture_output=True, text=True,
                       timeout=120)
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
