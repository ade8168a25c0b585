r"""The symbol vocabulary of the bounds: one name, one meaning, one LaTeX form.

Every bound is a SymPy expression (or a straight-line program) in these symbols, and a
certificate stores it as ``srepr`` text, so a symbol's *name* is part of the format: a
name means the same quantity in every bound that uses it.  The bounds build their
symbols with the factories below (never ``sp.Symbol("...")`` of a vocabulary name);
:data:`VOCABULARY` lists every name with its meaning and LaTeX form (the notation table
of ``docs/theory-param.md`` is this table).  All symbols are nonnegative reals except
``Rg_k`` (real).

Indexed names carry the layer $k$ (or block, or step) as ``<name>_<k>``; scalars have no
index.  Examples:

    >>> rho(2), sp.latex(rho(2)), VOCABULARY["omega"].meaning.split(",")[0]
    (rho_2, '\\rho_{2}', 'largest row norm of W_k')
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["SymbolSpec", "VOCABULARY", "nonneg", "lookup"]


def nonneg(name: str) -> sp.Symbol:
    """The nonnegative real symbol ``name`` (the assumption every bound symbol carries)."""
    return sp.Symbol(name, nonnegative=True)


@dataclass(frozen=True)
class SymbolSpec:
    """One vocabulary entry: ``name`` (``rho`` for ``rho_k``), whether it is indexed by
    a layer, its meaning (a sentence, upper bounds written ``>=``) and its LaTeX form
    (with ``{k}`` for the index)."""

    name: str
    indexed: bool
    meaning: str
    latex: str
    pattern: str = "{name}_{k}"
    real: bool = False  # a real symbol (may be negative); the default is nonnegative

    def symbol(self, k: int | str | None = None) -> sp.Symbol:
        if self.indexed != (k is not None):
            raise ValueError(f"symbol {self.name!r} {'needs' if self.indexed else 'takes no'} "
                             f"index, got {k!r}")
        name = self.name if k is None else self.pattern.format(name=self.name, k=k)
        return sp.Symbol(name, real=True) if self.real else nonneg(name)


_ENTRIES = [
    # -- network and ball ------------------------------------------------------------------
    SymbolSpec("r", False, "radius of the parameter ball B_r(theta-bar)", r"r"),
    SymbolSpec("n", True, "width of layer k", r"n_{k}"),
    SymbolSpec("rho", True, "spectral-norm bound of W_k: >= sup over the weights considered "
               "of ||W_k||_2 (||W_k||_2 for the input bound, ||W-bar_k||_2 + r on a "
               "parameter ball)", r"\rho_{k}"),
    SymbolSpec("beta", True, ">= sup_{B_r} ||b_k||_2 (||b-bar_k||_2 + r)", r"\beta_{k}"),
    SymbolSpec("omega", True, "largest row norm of W_k, + r: >= sup_{B_r} max_i "
               "||W_{k,i:}||_2", r"\omega_{k}"),
    SymbolSpec("kappa", True, "largest column norm of W_k, + r: >= sup_{B_r} max_j "
               "||W_{k,:j}||_2", r"\kappa_{k}"),
    SymbolSpec("tau", True, ">= |h_k|, the step of residual block k", r"\tau_{k}"),
    SymbolSpec("nu", True, ">= nu(sign(h_k) W_k), the logarithmic-norm constant of "
               "residual block k", r"\nu_{k}"),
    SymbolSpec("gamma", True, ">= ||sigma(b-bar_k)||_2 (centre bias through the "
               "activation)", r"\gamma_{k}"),
    # -- activation constants ------------------------------------------------------------
    SymbolSpec("K1", False, "Lipschitz constant of the activation (sup |sigma'|)", r"K_{1}"),
    SymbolSpec("K2", False, "Lipschitz constant of sigma' (sup |sigma''|)", r"K_{2}"),
    SymbolSpec("K_1^", True, "Lipschitz constant of the activation after layer k (one "
               "activation per layer; a spline's: sup over its coefficient ball; symbol "
               "K_1^(k))", r"K^{(k)}_{1}",
               pattern="K_1^({k})"),
    SymbolSpec("K_2^", True, ">= sup |sigma''| over layer k's pre-activation box (the "
               "local K2 of the sensitivity bound; symbol K_2^(k))", r"K^{(k)}_{2}",
               pattern="K_2^({k})"),
    SymbolSpec("K_3^", True, ">= sup |sigma'''| over layer k's pre-activation box (the "
               "third-order constant of the curvature remainder, Lemma 12; symbol "
               "K_3^(k))", r"K^{(k)}_{3}", pattern="K_3^({k})"),
    SymbolSpec("S0", False, "sup |sigma|", r"S_{0}"),
    SymbolSpec("s0", False, "|sigma(0)|", r"s_{0}"),
    SymbolSpec("s_0^", True, ">= |sigma_k(0)| for layer k's activation (a spline's: sup over "
               "its coefficient ball; symbol s_0^(k))", r"s^{(k)}_{0}", pattern="s_0^({k})"),
    # -- data, centre and loss ---------------------------------------------------------------
    SymbolSpec("A", True, ">= ||a_k(theta-bar; x)||_2, centre activation norm (A_N: the "
               "output)", r"A_{k}"),
    SymbolSpec("Jz", True, ">= ||D_theta z_k(theta-bar; x)||_2 (centre Jacobian of z_k)",
               r"Jz_{k}"),
    SymbolSpec("Jr", True, ">= max_i ||grad_theta z_{k,i}(theta-bar; x)||_2 (its largest "
               "row)", r"Jr_{k}"),
    SymbolSpec("Ja", True, ">= ||D_theta a_k(theta-bar; x)||_2 (centre Jacobian of a_k)",
               r"Ja_{k}"),
    SymbolSpec("Y", False, "||y||_2 of the label", r"Y"),
    SymbolSpec("E", False, ">= ||grad_f loss(f(x; theta-bar), y)||_2", r"E"),
    SymbolSpec("P", False, ">= max_j softmax(f(x; theta-bar))_j (cross-entropy)", r"P"),
    SymbolSpec("Pbar", False, ">= 1 - max_j softmax(f(x; theta-bar))_j, the probability off "
               "the top class (cross-entropy)", r"\bar{P}"),
    SymbolSpec("G", False, ">= sup_{B_r} ||grad_f loss(f(x; theta), y)||_2 (defined)", r"G"),
    SymbolSpec("H", False, ">= sup_{B_r} ||grad^2_f loss(f(x; theta), y)||_2 (cross-entropy; "
               "defined)", r"H"),
    SymbolSpec("B", False, ">= Lipschitz constant of theta -> grad_theta loss on B_r, the "
               "gradient bound (defined)", r"B"),
    # -- defined by the recursions -------------------------------------------------------
    SymbolSpec("c", True, ">= sup_{B_r} ||a_k||_2 (c_0 = ||x||_2; defined)", r"c_{k}"),
    SymbolSpec("m", True, ">= sup_{B_r} ||D z_k|| (defined)", r"m_{k}"),
    SymbolSpec("l", True, ">= sup_{B_r} ||D a_k|| (defined)", r"l_{k}"),
    SymbolSpec("mu", True, ">= sup_{B_r} max_i ||grad_theta z_{k,i}|| (defined)",
               r"\mu_{k}"),
    SymbolSpec("w", True, "bound of the W_k-term of D^2 z_k (defined)", r"w_{k}"),
    SymbolSpec("g", True, ">= sup_{B_r} ||D^2 z_k|| (defined)", r"g_{k}"),
    SymbolSpec("h", True, ">= sup_{B_r} ||D^2 a_k|| (defined)", r"h_{k}"),
    SymbolSpec("q", True, ">= ||I + h_k S W_k||_2, residual block factor (defined)",
               r"q_{k}"),
    # -- input bounds ---------------------------------------------------------------------
    SymbolSpec("lambda", True, ">= ||D_k W_k||_2 on the input ball (local input bound)",
               r"\lambda_{k}"),
    SymbolSpec("J_loc", False, ">= sup over the input ball of ||J(x)||_2 (interval "
               "Jacobian)", r"J_{loc}"),
    # -- spline activations with trainable coefficients ------------------------------------
    SymbolSpec("T", True, "grid step of layer k's spline", r"T_{k}"),
    SymbolSpec("Rg", True, "min(b_k, -a_k) for layer k's spline grid [a_k, b_k] (negative "
               "when the grid does not contain 0)", r"Rg_{k}", real=True),
    SymbolSpec("chi", True, "coefficient multiplicity of layer k's spline: 1 per neuron, "
               ">= sqrt(n_k) for one shared spline", r"\chi_{k}"),
    SymbolSpec("zeta", True, ">= sup_{B_r} max_i |z_{k,i}| (defined)", r"\zeta_{k}"),
    SymbolSpec("varsigma", True, "distance of z_k beyond the spline grid, in grid steps "
               "(defined)", r"\varsigma_{k}"),
    SymbolSpec("psi", True, ">= sup ||d a_k / d gamma_k||, the coefficient sensitivity "
               "(defined)", r"\psi_{k}"),
    # -- convolutions ---------------------------------------------------------------------
    SymbolSpec("pi", True, "largest number of kernel applications touching one input of "
               "convolution k", r"\pi_{k}"),
    SymbolSpec("P", True, "number of output positions of convolution k", r"P_{k}"),
]

#: every vocabulary entry by name (``P`` indexed is ``P_k``: keyed ``P_k``)
VOCABULARY: dict[str, SymbolSpec] = {}
for _e in _ENTRIES:
    _key = f"{_e.name}_k" if (_e.indexed and _e.name in {"P"}) else _e.name
    if _key in VOCABULARY:  # pragma: no cover - a programming error
        raise RuntimeError(f"symbol {_key!r} is in the vocabulary twice")
    VOCABULARY[_key] = _e


def lookup(symbol: sp.Symbol | str) -> SymbolSpec | None:
    """The vocabulary entry of a symbol (by name; ``None`` if it is not a vocabulary
    name)."""
    s = str(symbol)
    if s in VOCABULARY and not VOCABULARY[s].indexed:
        return VOCABULARY[s]
    for key in ("K_1^", "K_2^", "K_3^", "s_0^"):
        if s.startswith(key + "("):
            return VOCABULARY[key]
    base, sep, idx = s.rpartition("_")
    if sep and idx.isdigit():
        for e in (VOCABULARY.get(base), VOCABULARY.get(f"{base}_k")):
            if e is not None and e.indexed:
                return e
    return None


def _factory(name: str):
    spec = VOCABULARY[name]

    def make(k: int) -> sp.Symbol:
        return spec.symbol(k)

    make.__name__ = name
    make.__doc__ = f"${spec.latex}$: {spec.meaning}."
    return make


# scalars
R = VOCABULARY["r"].symbol()
K1, K2, S0, s0 = (VOCABULARY[n].symbol() for n in ("K1", "K2", "S0", "s0"))
Y, E, PMAX, PBAR = (VOCABULARY[n].symbol() for n in ("Y", "E", "P", "Pbar"))
LOSS_GRAD, LOSS_HESS, GRAD_LIP = (VOCABULARY[n].symbol() for n in ("G", "H", "B"))
J_LOC = VOCABULARY["J_loc"].symbol()

# per layer
rho, beta, width, omega, kappa = (_factory(n) for n in ("rho", "beta", "n", "omega", "kappa"))
tau, nu, gamma = (_factory(n) for n in ("tau", "nu", "gamma"))
cent, jz, jr, ja = (_factory(n) for n in ("A", "Jz", "Jr", "Ja"))
c, l, m, mu, wk, g, h, q = (  # noqa: E741 - the paper's names
    _factory(n) for n in ("c", "l", "m", "mu", "w", "g", "h", "q"))
lam, conv_pi, positions = (_factory(n) for n in ("lambda", "pi", "P_k"))


k1_layer, k2_layer, s0_layer = _factory("K_1^"), _factory("K_2^"), _factory("s_0^")
k3_layer = _factory("K_3^")
grid_step, grid_reach, coef_mult = _factory("T"), _factory("Rg"), _factory("chi")
zeta, varsigma, psi = _factory("zeta"), _factory("varsigma"), _factory("psi")


def markdown_table() -> str:
    """The vocabulary as the Markdown notation table of ``docs/theory-param.md`` (a test
    keeps the page equal to it)."""
    rows = ["| symbol | printed | meaning |", "|---|---|---|"]
    for e in VOCABULARY.values():
        name = e.pattern.format(name=e.name, k="k") if e.indexed else e.name
        meaning = e.meaning.replace("|", "\\|")  # a bare | would end the table cell
        rows.append(f"| `{name}` | ${e.latex}$ | {meaning} |")
    return "\n".join(rows) + "\n"
