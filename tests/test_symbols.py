"""The symbol vocabulary: one name, one meaning, and every bound speaks it."""

from pathlib import Path

import sympy as sp

from symlip.bounds import recursion as rec
from symlip.bounds.input import input_product_formula, local_input_formula
from symlip.bounds.spline_param import spline_param_program
from symlip.symbolic import symbols as S

ROOT = Path(__file__).resolve().parents[1]


def test_each_printed_form_is_what_sympy_prints_and_is_unique():
    printed = {}
    for key, e in S.VOCABULARY.items():
        sym = e.symbol(7) if e.indexed else e.symbol()
        assert sp.latex(sym) == e.latex.replace("{k}", "{7}").replace("(k)", "(7)"), key
        assert sym.is_nonnegative or (e.real and sym.is_real)
        assert S.lookup(sym) is e
        assert printed.setdefault(sp.latex(sym), key) == key, f"{key} prints like {printed}"


def test_the_bounds_use_only_vocabulary_symbols():
    """Every input and defined symbol of the parameter, gradient, loss and input bounds is
    a vocabulary name (so a name means the same thing in all of them)."""
    programs = [rec.first_order_program(3), rec.second_order_program(3, jac=True),
                rec.network_first_order_program(["dense", "residual", "linear"], lognorm=[2]),
                rec.loss_program(3, "mse"), rec.loss_program(3, "cross-entropy")]
    syms = set()
    for defs, inputs in programs:
        syms |= set(inputs) | {d.symbol for d in defs}
    syms |= set(local_input_formula(3, residual=[False, True, False], lognorm=[2]).inputs)
    syms |= set(input_product_formula(2)[0].inputs)
    spline = spline_param_program(3)
    syms |= set(spline.inputs) | {d.symbol for d in spline.definitions}
    assert sorted(str(s) for s in syms if S.lookup(s) is None) == []


def test_input_and_param_bounds_agree_on_the_spectral_norm_symbol():
    """``rho_k`` bounds ||W_k||_2 in both (the input bound at r = 0); ``omega_k`` is only
    the row norm of the gradient recursion."""
    f, _ = input_product_formula(2)
    assert S.rho(1) in f.inputs and S.omega(1) not in f.inputs
    assert S.omega(2) in rec.second_order_program(3)[1]


def test_docs_notation_table_is_the_vocabulary():
    page = (ROOT / "docs" / "theory-param.md").read_text()
    start = "<!-- vocabulary table: generated from symlip.symbolic.symbols.markdown_table() -->\n"
    body = page[page.index(start) + len(start):page.index("<!-- end vocabulary table -->")]
    assert body == S.markdown_table()
