"""Derivation rendering: long justifications wrap in LaTeX documents (pdflatex), stay
``\\text{}`` for MathJax (Markdown, notebooks); text is escaped."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sympy as sp

from symlip.symbolic.derivation import Derivation

x, y = sp.symbols("x y", nonnegative=True)

LONG = ("Gronwall's inequality (Stieltjes form): if $u$ is continuous, $u(t) \\le a(t) + "
        "\\int_0^t u\\,d\\mu$ with $a$ nondecreasing and $\\mu$ a nonnegative measure "
        "without atoms, then $u(t) \\le a(t)\\,e^{\\mu([0,t])}$; Cauchy-Schwarz as before, "
        "and 100% of the rest by induction over k_1 & k_2 #3 {sic} ^ ~")


def _derivation() -> Derivation:
    d = Derivation("Long reasons")
    d.step(x * y, "<=", x**2 + y**2, LONG)
    d.then("<=", 2 * x**2 + 2 * y**2, "short reason")
    return d


def test_latex_wraps_long_justifications_only():
    tex = _derivation().to_latex()
    rows = tex.split("\\\\\n")
    assert "\\parbox[t]{" in rows[0] and "\\raggedright" in rows[0]
    assert "$\\mu$" in rows[0]  # maths spans stay maths inside the box
    assert "\\text{" not in rows[0]
    assert "\\parbox" not in rows[1] and "\\text{short reason}" in rows[1]
    assert "\\parbox" in _derivation().to_latex(standalone=True)


def test_markdown_and_notebook_keep_text_for_mathjax():
    d = _derivation()
    for out in (d.to_markdown(), d._repr_latex_()):
        assert "\\parbox" not in out
        assert "\\text{Gronwall's inequality (Stieltjes form): if }" in out


def test_justification_text_is_escaped():
    tex = _derivation().to_latex()
    for esc in ("100\\%", "k\\_1 \\& k\\_2 \\#3", "\\{sic\\}", "\\textasciicircum{}",
                "\\textasciitilde{}"):
        assert esc in tex, esc


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_long_justification_stays_inside_the_margin(tmp_path):
    (tmp_path / "d.tex").write_text(_derivation().to_latex(standalone=True))
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    log = (tmp_path / "d.log").read_text(errors="replace")
    assert not re.search(r"Overfull \\hbox", log), log[-3000:]
