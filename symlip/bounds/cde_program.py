r"""The symbolic bounds of controlled ODEs: straight-line programs over the grid steps.

Every bound here is a :class:`~symlip.symbolic.recursion.RecursiveFormula` — an ordered
list of definitions ``symbol := SymPy expression`` — and is the single source of truth
of its numbers (float estimates, interval enclosures, LaTeX).  Four families:

* :func:`math_program` — the closed form of ``MATH.md`` section 3 for the exact solution
  (Gronwall with $e^{K_1\rho V_1}$); ``discrete=True`` replaces the exponential by the
  Euler product $P_N = \prod_k (1 + K_1\rho\|\Delta U_k\|_1)$ (discrete Gronwall).
* :func:`euler_program` — the per-step bound of the **Euler scheme on the grid**, a
  weight-tied residual network: one step of the recursion per grid step, with the
  centre trajectory (``centre``), the logarithmic-norm factor (``lognorm``) and
  per-step state bounds.  This is what :func:`symlip.cde.param_lipschitz` certifies.
* :func:`flow_program` — the per-interval bound of the **exact solution** for $U$
  linear between grid points; it also covers the Euler scheme on every refinement of
  the grid (proof in ``docs/theory-cde.md``), so ``euler <= flow <= math``.
* :func:`residual_program` — a general (not weight-tied) residual network, the
  residual layer type of :mod:`symlip.bounds.recursion` (also spliced into the
  feed-forward machinery, :mod:`symlip.bounds.residual`).

A step program of $N$ steps holds $O(N)$ definitions generated from one *template*
(the definitions of step $k$ in generic symbols ``c_k``, ``c_{k+1}``, ...);
:class:`StepFormula` compiles the template once and prints the template, not the $N$
copies.

Symbols (nonnegative reals):

=====================  ============================================================
``r``                  radius of the parameter ball
``K1, K2, S0, s0``     activation constants ($\sup|\sigma'|$, Lip $\sigma'$, $\sup|\sigma|$,
                       $|\sigma(0)|$)
``n``                  state dimension
``xi``                 $\|x\|$ of a data point
``rho_A, beta_a``      $\|\bar A\|_2 + r$, $\|\bar a\| + r$
``rho, beta``          $\max_j \|\bar W_j\|_2 + r$, $\max_j\|\bar b_j\| + r$
``rho_C, beta_c``      $\|\bar C\|_2 + r$, $\|\bar c\| + r$
``V1, V2``             $\sum_k \|\Delta U_k\|_1$ and $\|(\mathrm{TV}(U^1), \dots,
                       \mathrm{TV}(U^d))\|_2$
``w_k``                $\|\Delta U_k\|_1$;  ``u_k``: $\|\Delta U_k\|_2$;
                       ``v_j_k``: $|\Delta U^j_k|$
``nu_k``               $\sum_j |\Delta U^j_k|\, \nu(\pm\bar W_j)$ (logarithmic-norm term)
``g_k``                $\sum_j |\Delta U^j_k|\, \|\sigma(\bar b_j)\|$
``A_k``                $\ge \|X_k(\bar\theta; x)\|$, centre Euler state
``Y, E``               $\|y\|$, $\ge\|Y(\bar\theta; x) - y\|$ (MSE loss)
=====================  ============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import sympy as sp

from symlip.errors import InputError
from symlip.symbolic.derivation import Derivation, Tex
from symlip.symbolic.recursion import (
    Definition,
    RecursiveFormula,
    compile_line,
    lazy_min,
    sym_key,
)
from symlip.symbolic.recursion import lazy_sqrt as _sqrt
from symlip.symbolic.symbols import K1, K2, S0, R, nonneg, s0

__all__ = [
    "StepFormula",
    "math_program",
    "euler_program",
    "flow_program",
    "residual_program",
    "continuous_derivation",
    "euler_derivation",
    "improved_derivation",
    "second_order_derivation",
    "limit_derivation",
    "uniform_limits",
    "LOSSES",
]


_nn = nonneg


def _min(*opts: sp.Expr) -> sp.Expr:
    return lazy_min(opts)


NS = _nn("n")
XI = _nn("xi")
RHO_A, BETA_A, RHO, BETA, RHO_C, BETA_C = (_nn(s) for s in
                                           ("rho_A", "beta_a", "rho", "beta", "rho_C", "beta_c"))
V1, V2 = _nn("V1"), _nn("V2")
YN, EN = _nn("Y"), _nn("E")

LOSSES = ("mse", "cross-entropy")


def loss_name(loss: str) -> str:
    key = str(loss).strip().lower().replace("_", "-")
    key = {"ce": "cross-entropy", "crossentropy": "cross-entropy", "l2": "mse"}.get(key, key)
    if key not in LOSSES:
        raise InputError(f"loss={loss!r} must be one of {list(LOSSES)}")
    return key


# ------------------------------------------------------------------------------------
# the step-program formula
# ------------------------------------------------------------------------------------


class StepFormula(RecursiveFormula):
    r"""A straight-line program ``head; template(k) for k = 0..N-1; tail``.

    ``template`` is a list of definitions in *generic* symbols; ``step_map(k)`` maps
    each generic symbol to the actual symbol of step ``k``.  The definitions of the
    program are the template instantiated for every step, so every evaluation
    (:meth:`estimate`, :meth:`enclose`, :meth:`enclose_array`) is exactly that of
    :class:`~symlip.symbolic.recursion.RecursiveFormula` (line by line, interval
    evaluation inclusion isotone); the template's lines are compiled once.

    :meth:`srepr` stores ``(N, head, template, tail)`` (it determines the program) and
    :meth:`latex` prints the template with generic indices.  ``expr`` is the last line
    (in the symbols of earlier lines): the substituted expression of a long program is
    not printable.
    """

    def __init__(self, head: Sequence[Definition], template: Sequence[Definition],
                 n_steps: int, step_map: Callable[[int], Mapping[sp.Symbol, sp.Symbol]],
                 tail: Sequence[Definition], inputs: Sequence[sp.Symbol], name: str) -> None:
        self.head, self.template, self.tail = list(head), list(template), list(tail)
        self.n_steps = int(n_steps)
        self._targs = [tuple(sorted(td.expr.free_symbols, key=str)) for td in self.template]
        self._tinfo: dict[sp.Symbol, tuple[int, tuple[sp.Symbol, ...]]] = {}
        defs = list(self.head)
        with sp.evaluate(False):  # a renaming: no re-evaluation of Min/Pow (slow)
            for k in range(self.n_steps):
                mp = dict(step_map(k))
                for i, td in enumerate(self.template):
                    sym = mp[td.symbol]
                    defs.append(Definition(sym, td.expr.xreplace(mp), td.why))
                    self._tinfo[sym] = (i, tuple(mp.get(s, s) for s in self._targs[i]))
        defs += self.tail
        super().__init__(defs, inputs, name)

    @cached_property
    def expr(self) -> sp.Expr:  # type: ignore[override]
        """The last definition (in the symbols of earlier definitions)."""
        return self.definitions[-1].expr

    def program_tuple(self) -> sp.Tuple:
        def tup(ds: Sequence[Definition]) -> sp.Tuple:
            return sp.Tuple(*[sp.Tuple(d.symbol, d.expr) for d in ds])

        return sp.Tuple(sp.Integer(self.n_steps), tup(self.head), tup(self.template),
                        tup(self.tail))

    def srepr(self) -> str:
        return sp.srepr(self.program_tuple())

    def latex(self) -> str:
        rows = [rf"{sp.latex(d.symbol)} &= {sp.latex(d.expr)}" for d in self.head]
        rows.append(rf"&\text{{for }} k = 0, \dots, N-1 \text{{ (}} N = {self.n_steps}"
                    r"\text{):}")
        rows += [rf"{sp.latex(d.symbol)} &= {sp.latex(d.expr)}" for d in self.template]
        rows += [rf"{sp.latex(d.symbol)} &= {sp.latex(d.expr)}" for d in self.tail]
        return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"

    def text(self) -> str:
        lines = [f"{d.symbol} := {sp.sstr(d.expr)}" for d in self.head]
        lines.append(f"for k = 0..{self.n_steps - 1}:")
        lines += [f"  {d.symbol} := {sp.sstr(d.expr)}" for d in self.template]
        lines += [f"{d.symbol} := {sp.sstr(d.expr)}" for d in self.tail]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"StepFormula({self.name}: {self.n_steps} steps, {len(self.definitions)} lines)"

    def _run(self, vals: Sequence[Any], kind: str) -> Any:
        env: dict[sp.Symbol, Any] = dict(zip(self.inputs, vals, strict=False))
        cache = self.__dict__.setdefault("_fn_cache", {})
        for d in self.definitions:
            info = self._tinfo.get(d.symbol)
            if info is None:
                key: Any = (d.symbol, kind)
                if key not in cache:
                    args = sorted(d.expr.free_symbols, key=sym_key)
                    cache[key] = (args, compile_line(args, d.expr, kind))
                args, fn = cache[key]
            else:
                i, args = info
                key = ("template", i, kind)
                if key not in cache:
                    cache[key] = (None, compile_line(list(self._targs[i]),
                                                 self.template[i].expr, kind))
                fn = cache[key][1]
            env[d.symbol] = fn(*[env[a] for a in args])
        return env[self.output]


# ------------------------------------------------------------------------------------
# symbols of step k
# ------------------------------------------------------------------------------------


def _k(name: str, k: int) -> sp.Symbol:
    return _nn(f"{name}_{k}")


def _kj(name: str, j: int, k: int) -> sp.Symbol:
    return _nn(f"{name}_{j}_{k}")


_GEN = {s: _nn(s) for s in ("w_k", "u_k", "nu_k", "g_k", "q_k", "al_k", "F_k", "m_{k+1}",
                            "m_k", "A_{k+1}")}
for _s in ("a", "c", "l", "e", "P"):
    _GEN[f"{_s}_k"] = _nn(f"{_s}_k")
    _GEN[f"{_s}_{{k+1}}"] = _nn(f"{_s}_{{k+1}}")


def _g(name: str) -> sp.Symbol:
    return _GEN[name]


def _gv(j: int) -> sp.Symbol:
    return _nn(f"v_{{{j},k}}")


def _gG(j: int, nxt: bool) -> sp.Symbol:
    return _nn(f"G_{{{j},k+1}}") if nxt else _nn(f"G_{{{j},k}}")


def _step_map(d: int) -> Callable[[int], dict[sp.Symbol, sp.Symbol]]:
    def mp(k: int) -> dict[sp.Symbol, sp.Symbol]:
        out = {_g("w_k"): _k("w", k), _g("u_k"): _k("u", k), _g("nu_k"): _k("nu", k),
               _g("g_k"): _k("g", k), _g("q_k"): _k("q", k), _g("al_k"): _k("al", k),
               _g("F_k"): _k("F", k), _g("A_{k+1}"): _k("A", k + 1),
               _g("m_k"): _k("m", k), _g("m_{k+1}"): _k("m", k + 1)}
        for s in ("a", "c", "l", "e", "P"):
            out[_g(f"{s}_k")] = _k(s, k)
            out[_g(f"{s}_{{k+1}}")] = _k(s, k + 1)
        for j in range(1, d + 1):
            out[_gv(j)] = _kj("v", j, k)
            out[_gG(j, False)] = _kj("G", j, k)
            out[_gG(j, True)] = _kj("G", j, k + 1)
        return out

    return mp


def _check(n_steps: int, d: int) -> None:
    if not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"{n_steps=} must be an integer >= 1")
    if not isinstance(d, int) or d < 1:
        raise InputError(f"{d=} must be an integer >= 1")


# ------------------------------------------------------------------------------------
# MATH.md section 3: closed forms (continuous; discrete with the Euler product)
# ------------------------------------------------------------------------------------

_EX = _nn("Ex")
_CX, _LX, _C0 = _nn("c_X"), _nn("l_X"), _nn("c_0")


def _math_core(ex_def: Definition, bounded: bool) -> list[Definition]:
    alpha = K1 * BETA + _sqrt(NS) * s0
    opts = [(_C0 + alpha * V1) * _EX] + ([_C0 + _sqrt(NS) * S0 * V1] if bounded else [])
    return [
        Definition(_C0, RHO_A * XI + BETA_A, "$\\|Ax + a\\| \\le \\rho_A\\|x\\| + \\beta_a$"),
        ex_def,
        Definition(_CX, _min(*opts), "Gronwall on $\\|X_t\\|$; or $|\\sigma| \\le S_0$"),
        Definition(_LX, _EX * _sqrt(XI ** 2 + 1 + K1 ** 2 * (_CX ** 2 + 1) * V2 ** 2),
                   "Gronwall on $\\|X_t - X_t'\\|$, Cauchy-Schwarz over the blocks"),
    ]


def _tail_first(cN: sp.Symbol, lN: sp.Symbol, name: str = "L") -> Definition:
    return Definition(_nn(name), _sqrt(cN ** 2 + 1 + RHO_C ** 2 * lN ** 2),
                      "read-out: $\\|\\Delta C X + \\Delta c + C'(X - X')\\|$, "
                      "Cauchy-Schwarz")


def _tail_second(cN: sp.Symbol, lN: sp.Symbol, eN: sp.Symbol, loss: str, centre: bool
                 ) -> list[Definition]:
    lY, gY, Gl, B = _nn("l_Y"), _nn("g_Y"), _nn("G"), _nn("B")
    out = [
        Definition(lY, _sqrt(cN ** 2 + 1 + RHO_C ** 2 * lN ** 2), "first order of the read-out"),
        Definition(gY, (RHO_C * eN + _sqrt(RHO_C ** 2 * eN ** 2 + 4 * lN ** 2)) / 2,
                   "spectral norm of $[[0, l_N], [l_N, \\rho_C e_N]]$ (block Cauchy-Schwarz)"),
    ]
    if loss == "mse":
        opts = [RHO_C * cN + BETA_C + YN] + ([EN + lY * R] if centre else [])
        out.append(Definition(Gl, _min(*opts), "$\\|\\nabla\\lambda\\| = \\|Y - y\\|$"))
        out.append(Definition(B, lY ** 2 + Gl * gY,
                              "chain rule: $\\nabla^2\\lambda[DY, DY] + \\nabla\\lambda\\cdot "
                              "D^2 Y$, $\\|\\nabla^2\\lambda\\| = 1$"))
    else:
        out.append(Definition(Gl, sp.sqrt(2), "$\\|p - y\\|_2 \\le \\sqrt 2$ on the simplex"))
        out.append(Definition(B, lY ** 2 / 2 + Gl * gY,
                              "chain rule, $\\|\\nabla^2\\lambda\\| \\le 1/2$ (Popoviciu)"))
    return out


def _loss_inputs(loss: str, centre: bool) -> list[sp.Symbol]:
    if loss == "mse":
        return [BETA_C, YN] + ([EN] if centre else [])
    return []


def math_program(*, bounded: bool = True, order: int = 1, loss: str = "mse",
                 discrete: bool = False, n_steps: int | None = None) -> RecursiveFormula:
    r"""The bound of ``MATH.md`` section 3 (the "before" of the tightness benchmark).

    Continuous (``discrete=False``): for the exact solution,
    $c_X = \min((c_0 + (K_1\beta + \sqrt n s_0)V_1)e^{K_1\rho V_1}, c_0 + \sqrt n S_0
    V_1)$, $l_X = e^{K_1\rho V_1}\sqrt{\|x\|^2 + 1 + K_1^2(c_X^2+1)V_2^2}$,
    $L = \sqrt{c_X^2 + 1 + \rho_C^2 l_X^2}$; second order
    $h_X = (K_2 m^2 + 2K_1 l_X) V_1 e^{K_1\rho V_1}$, $m = \sqrt{c_X^2+1} + \rho l_X$.

    Discrete (``discrete=True``, needs ``n_steps``): the same with $e^{K_1\rho V_1}$
    replaced by $P_N = \prod_{k<N}(1 + K_1\rho w_k)$ (discrete Gronwall): a bound of
    the Euler scheme, $\le$ the continuous one since $1 + t \le e^t$.
    """
    loss = loss_name(loss)
    inputs = [R, K1, s0, NS, XI, RHO_A, BETA_A, RHO, BETA, RHO_C, V1, V2]
    if bounded:
        inputs.insert(2, S0)
    if discrete:
        if n_steps is None:
            raise InputError("the discrete bound needs n_steps")
        _check(n_steps, 1)
        ex = Definition(_EX, _k("P", n_steps), "discrete Gronwall: $P_N = \\prod_k "
                        "(1 + K_1\\rho\\|\\Delta U_k\\|_1)$")
    else:
        ex = Definition(_EX, sp.exp(K1 * RHO * V1), "Gronwall: $e^{K_1\\rho V_1}$")
    core = _math_core(ex, bounded)
    if order == 1:
        tail = core + [_tail_first(_CX, _LX)]
    else:
        inputs += [K2] + _loss_inputs(loss, False)
        mX, hX = _nn("m_X"), _nn("h_X")
        tail = core + [
            Definition(mX, _sqrt(_CX ** 2 + 1) + RHO * _LX, "$\\|Dz_j[u]\\| \\le "
                       "(\\sqrt{c_X^2+1} + \\rho l_X)\\|u\\|$"),
            Definition(hX, (K2 * mX ** 2 + 2 * K1 * _LX) * V1 * _EX,
                       "Gronwall on $\\|D^2_\\theta X_t\\|$"),
        ] + _tail_second(_CX, _LX, hX, loss, False)
    name = ("L_param" if order == 1 else "L_grad") + ("_math_euler" if discrete else "_math")
    if not discrete:
        return RecursiveFormula(tail, inputs, name=name)
    head = [Definition(_k("P", 0), sp.Integer(1), "empty product")]
    tmpl = [Definition(_g("P_{k+1}"), _g("P_k") * (1 + K1 * RHO * _g("w_k")),
                       "one Euler step: $\\|I + M_k\\| \\le 1 + K_1\\rho\\|\\Delta U_k\\|_1$")]
    inputs += [_k("w", k) for k in range(n_steps)]
    return StepFormula(head, tmpl, n_steps, _step_map(1), tail, inputs, name)


# ------------------------------------------------------------------------------------
# the per-step programs (Euler scheme; exact flow)
# ------------------------------------------------------------------------------------


def _common_inputs(bounded: bool, centre: bool, lognorm: bool, order: int, loss: str,
                   n_steps: int, d: int, euler: bool) -> list[sp.Symbol]:
    inputs = [R, K1, s0, NS, XI, RHO_A, BETA_A, RHO, BETA, RHO_C]
    if bounded:
        inputs.insert(2, S0)
    if order == 2:
        inputs += [K2] + _loss_inputs(loss, centre and euler)
    for k in range(n_steps):
        inputs += [_k("w", k), _k("g", k)] + [_kj("v", j, k) for j in range(1, d + 1)]
        if lognorm:
            inputs.append(_k("nu", k))
        if order == 2:
            inputs.append(_k("u", k))
    if centre and euler:
        inputs += [_k("A", k) for k in range(n_steps + 1)]
    return inputs


def _head(centre: bool, d: int, order: int) -> list[Definition]:
    opts = [RHO_A * XI + BETA_A] + ([_k("A", 0) + _sqrt(XI ** 2 + 1) * R] if centre else [])
    head = [
        Definition(_k("a", 0), _sqrt(XI ** 2 + 1), "$\\|\\Delta A x + \\Delta a\\| \\le "
                   "\\sqrt{\\|x\\|^2+1}\\,\\|(\\Delta A, \\Delta a)\\|_F$"),
        Definition(_k("c", 0), _min(*opts), "read-in; centre: $A_0 + a_0 r$"),
    ]
    head += [Definition(_kj("G", j, 0), sp.Integer(0), "no field forcing yet")
             for j in range(1, d + 1)]
    if order == 2:
        head.append(Definition(_k("e", 0), sp.Integer(0), "$X_0$ is affine in $\\theta$"))
    return head


def _alpha() -> sp.Expr:
    w = _g("w_k")
    return _min(_g("g_k") + K1 * R * w, (K1 * BETA + _sqrt(NS) * s0) * w)


def euler_program(n_steps: int, d: int, *, bounded: bool = True, centre: bool = True,
                  lognorm: bool = True, order: int = 1, loss: str = "mse") -> StepFormula:
    r"""Per-step bound of the Euler scheme $X_{k+1} = X_k + \sum_j\sigma(W_jX_k+b_j)
    \Delta U^j_k$ on the grid (a weight-tied residual network), the certified bound.

    Theorem (first order; ``docs/theory-cde.md``): for $\theta, \theta' \in
    B_r(\bar\theta)$, $\|X_k(\theta) - X_k(\theta')\| \le (a_k\|\Delta_{in}\| + \sum_j
    G_{j,k}\|\Delta_j\|) \le l_k\|\theta - \theta'\|$ and $\|X_k(\theta)\| \le c_k$,
    with, per step,

    * $q_k = \min(1 + K_1\rho w_k,\ \sqrt{1 + 2K_1(\nu_k + r w_k) + K_1^2\rho^2w_k^2})
      \ge \|I + \sum_j \Delta U^j_k S_j W_j\|_2$ (second option only for monotone
      $\sigma$, ``lognorm``),
    * $\alpha_k = \min(g_k + K_1 r w_k, (K_1\beta + \sqrt n s_0) w_k) \ge \sum_j
      |\Delta U^j_k|\|\sigma(b_j)\|$,
    * $a_{k+1} = q_k a_k$, $G_{j,k+1} = q_k G_{j,k} + K_1\sqrt{c_k^2+1}\,v_{j,k}$,
      $l_{k+1} = \sqrt{a_{k+1}^2 + \sum_j G_{j,k+1}^2}$,
    * $c_{k+1} = \min(q_k c_k + \alpha_k,\ c_k + \sqrt n S_0 w_k,\ A_{k+1} + l_{k+1}r)$,

    and $\|Y(\theta) - Y(\theta')\| \le L\|\theta - \theta'\|$, $L = \sqrt{c_N^2 + 1 +
    \rho_C^2 l_N^2}$.  Second order: $m_k = \sqrt{c_k^2+1} + \rho l_k$,
    $e_{k+1} = q_k e_k + K_2 m_k^2 w_k + 2K_1 l_k u_k$ bounds $\|D^2_\theta X_k\|$, and the
    loss composition of :func:`symlip.bounds.recursion.loss_program`.
    """
    _check(n_steps, d)
    loss = loss_name(loss)
    w, c, cn, ln = _g("w_k"), _g("c_k"), _g("c_{k+1}"), _g("l_{k+1}")
    qopts = [1 + K1 * RHO * w]
    if lognorm:
        qopts.append(_sqrt(1 + 2 * K1 * (_g("nu_k") + R * w) + K1 ** 2 * RHO ** 2 * w ** 2))
    q = _g("q_k")
    tmpl = [
        Definition(q, _min(*qopts), "$\\|I + M_k\\|_2$: triangle inequality"
                   + ("; or $\\|I+M\\|^2 \\le 1 + 2\\mu_2(M) + \\|M\\|^2$, "
                      "$\\mu_2(S_jW_j) \\le K_1(\\nu(\\bar W_j) + r)$" if lognorm else "")),
        Definition(_g("al_k"), _alpha(), "$\\|\\sigma(b_j)\\| \\le \\|\\sigma(\\bar b_j)\\| + "
                   "K_1 r$, or $\\le K_1\\beta + \\sqrt n s_0$"),
        Definition(_g("a_{k+1}"), q * _g("a_k"), "read-in perturbation carried by one step"),
    ]
    for j in range(1, d + 1):
        tmpl.append(Definition(_gG(j, True), q * _gG(j, False) + K1 * _sqrt(c ** 2 + 1) * _gv(j),
                               "$\\|S_j(\\Delta W_j X_k + \\Delta b_j)\\| \\le K_1"
                               "\\sqrt{c_k^2+1}\\|\\Delta_j\\|$"))
    tmpl.append(Definition(ln, _sqrt(_g("a_{k+1}") ** 2 + sum(_gG(j, True) ** 2
                                                             for j in range(1, d + 1))),
                           "Cauchy-Schwarz over the blocks $(\\Delta_{in}, \\Delta_1, "
                           "\\dots, \\Delta_d)$"))
    copts = [q * c + _g("al_k")]
    if bounded:
        copts.append(c + _sqrt(NS) * S0 * w)
    if centre:
        copts.append(_g("A_{k+1}") + ln * R)
    tmpl.append(Definition(cn, _min(*copts), "state: $X_{k+1} = (I + M_k)X_k + \\sum_j "
                           "\\Delta U^j\\sigma(b_j)$; $|\\sigma|\\le S_0$; centre + $l r$"))
    if order == 2:
        m = _g("m_k")
        tmpl.insert(0, Definition(m, _sqrt(c ** 2 + 1) + RHO * _g("l_k"),
                                  "$\\|Dz_j[u]\\| \\le (\\sqrt{c_k^2+1} + \\rho l_k)\\|u\\|$"))
        tmpl.append(Definition(_g("e_{k+1}"), q * _g("e_k") + K2 * m ** 2 * w
                               + 2 * K1 * _g("l_k") * _g("u_k"),
                               "product rule on one step; $|\\sigma''| \\le K_2$"))
    head = _head(centre, d, order)
    head.insert(1, Definition(_k("l", 0), _k("a", 0), "$X_0$ depends on $(A, a)$ only"))
    N = n_steps
    if order == 1:
        tail = [_tail_first(_k("c", N), _k("l", N), "L")]
        name = "L_param_euler"
    else:
        tail = _tail_second(_k("c", N), _k("l", N), _k("e", N), loss, centre)
        name = "L_grad_euler"
    inputs = _common_inputs(bounded, centre, lognorm, order, loss, N, d, True)
    return StepFormula(head, tmpl, N, _step_map(d), tail, inputs, name)


def flow_program(n_steps: int, d: int, *, bounded: bool = True, lognorm: bool = True,
                 order: int = 1, loss: str = "mse") -> StepFormula:
    r"""Per-interval bound of the exact solution ($U$ linear on each grid interval),
    valid also for the Euler scheme on every refinement of the grid.

    On interval $k$ the logarithmic norm of the linearised field is at most
    $\min(K_1\rho w_k, K_1(\nu_k + r w_k))$, and one Euler sub-step of $1/m$ of the
    interval expands by at most $\exp(\min(K_1\rho w_k, K_1(\nu_k + rw_k) +
    K_1^2\rho^2w_k^2/(2m))/m)$; hence the factor
    $F_k = \exp(\min(K_1\rho w_k,\ K_1(\nu_k + r w_k) + K_1^2\rho^2 w_k^2/2))$ bounds
    both (Gronwall with the logarithmic norm, ``docs/theory-cde.md``):
    $c_{k+1} = \min((c_k + \alpha_k)F_k,\ c_k + \sqrt n S_0 w_k)$,
    $a_{k+1} = F_k a_k$, $G_{j,k+1} = F_k(G_{j,k} + K_1\sqrt{c_{k+1}^2+1}\,v_{j,k})$.
    Without ``lognorm``, $F_k = e^{K_1\rho w_k}$ and the result is at most the
    ``MATH.md`` bound (:func:`math_program`).
    """
    _check(n_steps, d)
    loss = loss_name(loss)
    w, c, cn, ln = _g("w_k"), _g("c_k"), _g("c_{k+1}"), _g("l_{k+1}")
    F = _g("F_k")
    b = K1 * RHO * w
    expo = _min(b, K1 * (_g("nu_k") + R * w) + b ** 2 / 2) if lognorm else b
    copts = [(c + _g("al_k")) * F] + ([c + _sqrt(NS) * S0 * w] if bounded else [])
    tmpl = [
        Definition(F, sp.exp(expo), "Gronwall with the logarithmic norm on one interval"
                   if lognorm else "Gronwall on one interval"),
        Definition(_g("al_k"), _alpha(), "$\\|\\sigma(b_j)\\| \\le \\|\\sigma(\\bar b_j)\\| + "
                   "K_1 r$, or $\\le K_1\\beta + \\sqrt n s_0$"),
        Definition(cn, _min(*copts), "state on the interval (nondecreasing in time)"),
        Definition(_g("a_{k+1}"), F * _g("a_k"), "read-in perturbation over the interval"),
    ]
    for j in range(1, d + 1):
        tmpl.append(Definition(_gG(j, True), F * (_gG(j, False) + K1 * _sqrt(cn ** 2 + 1)
                                                  * _gv(j)),
                               "variation of constants, forcing $\\le K_1\\sqrt{c_{k+1}^2+1}"
                               "|\\Delta U^j_k|\\|\\Delta_j\\|$"))
    tmpl.append(Definition(ln, _sqrt(_g("a_{k+1}") ** 2 + sum(_gG(j, True) ** 2
                                                             for j in range(1, d + 1))),
                           "Cauchy-Schwarz over the blocks"))
    if order == 2:
        m = _g("m_{k+1}")
        tmpl.append(Definition(m, _sqrt(cn ** 2 + 1) + RHO * ln, "sup over the interval"))
        tmpl.append(Definition(_g("e_{k+1}"), F * (_g("e_k") + K2 * m ** 2 * w
                                                   + 2 * K1 * ln * _g("u_k")),
                               "Gronwall on $\\|D^2_\\theta X\\|$ over the interval"))
    head = _head(False, d, order)
    N = n_steps
    if order == 1:
        tail = [_tail_first(_k("c", N), _k("l", N), "L")]
        name = "L_param_flow"
    else:
        tail = _tail_second(_k("c", N), _k("l", N), _k("e", N), loss, False)
        name = "L_grad_flow"
    inputs = _common_inputs(bounded, False, lognorm, order, loss, N, d, False)
    return StepFormula(head, tmpl, N, _step_map(d), tail, inputs, name)


# ------------------------------------------------------------------------------------
# a general (untied) residual network: one layer type in the feed-forward symbols
# ------------------------------------------------------------------------------------


def residual_program(depth: int, *, bounded: bool = True, centre: bool = True
                     ) -> RecursiveFormula:
    r"""Parameter-Lipschitz bound of $x \mapsto$ read-in (dense, layer 1) $\to$ residual
    blocks $2..N-1$ $\to$ linear read-out (layer $N$), untied weights.

    The program :func:`symlip.bounds.recursion.network_first_order_program` with layer
    kinds ``["linear", "residual", ..., "residual"]`` (the blocks are
    :func:`symlip.bounds.recursion.residual_layer_definitions`, step bounds
    ``tau_k``): $l_1 = \sqrt{c_0^2+1}$ for the linear read-in, then the blocks, then
    $l_N = \sqrt{c_{N-1}^2 + 1 + \rho_N^2 l_{N-1}^2}$.  The Euler scheme of a controlled
    ODE with *untied* weights per step is the case $h_k = \Delta U_k$ ($d = 1$).  For a
    :class:`~symlip.models.network.Network` with residual layers use
    :func:`symlip.bounds.residual.residual_param_lipschitz` (certified inputs).
    """
    from symlip.bounds import recursion as rec

    if not isinstance(depth, int) or depth < 3:
        raise InputError(f"{depth=} must be an integer >= 3 (read-in, >= 1 block, read-out)")
    defs, inputs = rec.network_first_order_program(["linear"] + ["residual"] * (depth - 2),
                                                   bounded=bounded, centre=centre,
                                                   bias_option=False)
    return RecursiveFormula(defs, inputs, name="L_param_resnet")


# ------------------------------------------------------------------------------------
# derivations
# ------------------------------------------------------------------------------------

_GRONWALL = ("Gronwall's inequality (Stieltjes form): if $u$ is continuous, $u(t) \\le a(t) + "
             "\\int_0^t u\\,d\\mu$ with $a$ nondecreasing and $\\mu$ a nonnegative measure "
             "without atoms, then $u(t) \\le a(t)\\,e^{\\mu([0,t])}$")
_DGRONWALL = ("discrete Gronwall: $u_{k+1} \\le (1 + x_k)u_k + f_k$ with $x_k, f_k \\ge 0$ "
              "gives $u_N \\le \\prod_{k<N}(1+x_k)\\,(u_0 + \\sum_k f_k)$")


def _model_hypotheses(d: Derivation) -> None:
    d.assume("$X_0 = Ax + a$, $dX_t = \\sum_{j=1}^d \\sigma(W_j X_t + b_j)\\,dU^j_t$ on "
             "$[0,T]$, $Y = CX_T + c$; $U$ of bounded variation, continuous (here: linear "
             "between grid points)")
    d.assume("$\\theta = (A, a, W_1, b_1, \\dots, W_d, b_d, C, c)$, $\\theta, \\theta' \\in "
             "B_r(\\bar\\theta)$, $\\Delta = \\theta - \\theta'$ with blocks $\\Delta_{in}, "
             "\\Delta_j, \\Delta_{out}$")
    d.assume("$\\sigma$ componentwise, $|\\sigma(s) - \\sigma(t)| \\le K_1|s-t|$, "
             "$|\\sigma| \\le S_0$, $|\\sigma(0)| = s_0$")
    d.assume("$V_1 = \\int\\|dU\\|_1$, $V_2 = \\|(\\mathrm{TV}(U^1), \\dots, "
             "\\mathrm{TV}(U^d))\\|_2$, $\\rho \\ge \\|W_j\\|_2$, $\\beta \\ge \\|b_j\\|$, "
             "$\\rho_A$, $\\rho_C$ likewise on the ball")


def continuous_derivation(order: int = 1) -> Derivation:
    """The ``MATH.md`` bound for the exact solution, step by step (Gronwall)."""
    d = Derivation("Parameter-Lipschitz bound of a controlled ODE (exact solution, Gronwall)")
    _model_hypotheses(d)
    d.step(Tex(r"\|\sigma(W_jX + b_j)\|"), "<=", Tex(r"K_1(\rho\|X\| + \beta) + \sqrt n\,s_0"),
           "$\\|\\sigma(z) - \\sigma(0)\\| \\le K_1\\|z\\|$, triangle inequality")
    d.step(Tex(r"\|X_t\|"), "<=", Tex(r"c_0 + (K_1\beta + \sqrt n s_0)V_1 + \int_0^t K_1\rho"
                                       r"\|X_s\|\,\|dU_s\|_1"),
           "integrate; $\\|\\sum_j v_j\\,dU^j\\| \\le \\max_j\\|v_j\\|\\,\\|dU\\|_1$")
    d.then("<=", Tex(r"(c_0 + (K_1\beta + \sqrt n s_0)V_1)\,e^{K_1\rho V_1} =: c_X"),
           _GRONWALL + " with $\\mu = K_1\\rho\\|dU\\|_1$")
    d.step(Tex(r"\|X_t\|"), "<=", Tex(r"c_0 + \sqrt n S_0 V_1"), "$|\\sigma| \\le S_0$")
    d.step(Tex(r"D_t := X_t - X'_t,\ \|D_0\|"), "<=", Tex(r"\sqrt{\|x\|^2+1}\,\|\Delta_{in}\|"),
           "$\\|\\Delta A\\,x + \\Delta a\\| \\le \\|[\\Delta A\\ \\Delta a]\\|_F"
           "\\|(x, 1)\\|$")
    d.step(Tex(r"\|\sigma(W_jX + b_j) - \sigma(W_j'X' + b_j')\|"), "<=",
           Tex(r"K_1\big(\sqrt{c_X^2+1}\,\|\Delta_j\| + \rho\|D\|\big)"),
           "$W_jX + b_j - W_j'X' - b_j' = \\Delta W_j X + \\Delta b_j + W_j' D$")
    d.step(Tex(r"\|D_t\|"), "<=", Tex(r"\|D_0\| + K_1\sqrt{c_X^2+1}\sum_j\|\Delta_j\|"
                                       r"\mathrm{TV}(U^j) + \int_0^t K_1\rho\|D_s\|\,"
                                       r"\|dU_s\|_1"), "integrate over $[0,t]$")
    d.then("<=", Tex(r"e^{K_1\rho V_1}\big(\sqrt{\|x\|^2+1}\|\Delta_{in}\| + K_1"
                     r"\sqrt{c_X^2+1}\,V_2\,\|\Delta_{field}\|\big)"),
           _GRONWALL + "; Cauchy-Schwarz $\\sum_j \\|\\Delta_j\\|\\mathrm{TV}(U^j) \\le "
           "V_2\\|\\Delta_{field}\\|$")
    d.then("<=", Tex(r"l_X\,\|\Delta_{in, field}\|,\quad l_X = e^{K_1\rho V_1}\sqrt{\|x\|^2 + 1 + "
                     r"K_1^2(c_X^2+1)V_2^2}"), "Cauchy-Schwarz over the two blocks")
    d.step(Tex(r"\|Y - Y'\|"), "<=", Tex(r"\sqrt{c_X^2+1}\|\Delta_{out}\| + \rho_C l_X"
                                          r"\|\Delta_{in,field}\| \le \sqrt{c_X^2 + 1 + "
                                          r"\rho_C^2 l_X^2}\,\|\Delta\|"),
           "$\\Delta C X_T + \\Delta c + C'D_T$; Cauchy-Schwarz")
    if order == 2:
        d.section(second_order_derivation(continuous=True))
    d.section(_program_section(math_program(order=order), "The bound as a program"))
    d.conclude("valid for the exact solution on $B_r(\\bar\\theta)$ (and, since "
               "$(1 + t) \\le e^t$, for the Euler scheme on any grid of the same path).")
    return d


def euler_derivation(order: int = 1) -> Derivation:
    """The discrete counterpart: Euler = weight-tied ResNet, discrete Gronwall."""
    d = Derivation("Euler scheme with N steps = weight-tied residual network (discrete "
                   "Gronwall)")
    _model_hypotheses(d)
    d.assume("$X_{k+1} = X_k + \\sum_j \\sigma(W_jX_k + b_j)\\,\\Delta U^j_k$, "
             "$w_k = \\|\\Delta U_k\\|_1$, $\\sum_k w_k = V_1$")
    d.step(Tex(r"\|X_{k+1}\|"), "<=", Tex(r"(1 + K_1\rho w_k)\|X_k\| + (K_1\beta + \sqrt n s_0)"
                                           r"w_k"), "one step, as in the continuous case")
    d.then("<=", Tex(r"P_N\,\big(c_0 + (K_1\beta + \sqrt n s_0)V_1\big),\quad P_N = "
                     r"\prod_{k<N}(1 + K_1\rho w_k)"), _DGRONWALL)
    d.step(Tex(r"\|D_{k+1}\|"), "<=", Tex(r"(1 + K_1\rho w_k)\|D_k\| + K_1\sqrt{c_X^2+1}\sum_j"
                                           r"|\Delta U^j_k|\,\|\Delta_j\|"),
           "difference of two Euler steps")
    d.then("<=", Tex(r"P_N\sqrt{\|x\|^2 + 1 + K_1^2(c_X^2+1)V_2^2}\,\|\Delta_{in,field}\|"),
           _DGRONWALL + "; Cauchy-Schwarz as before")
    d.step(Tex(r"P_N"), "<=", Tex(r"\exp\Big(\sum_k K_1\rho w_k\Big) = e^{K_1\rho V_1}"),
           "$1 + t \\le e^t$: the discrete bound is at most the continuous one, for every "
           "grid")
    d.section(_program_section(math_program(order=order, discrete=True, n_steps=3),
                               "The discrete bound as a program (N = 3 shown)"))
    d.section(limit_derivation())
    return d


def improved_derivation(order: int = 1) -> Derivation:
    """The tighter bounds: per-step recursion, logarithmic norm, centre trajectory."""
    d = Derivation("Tighter bounds: per-step Gronwall, logarithmic norm, centre trajectory")
    _model_hypotheses(d)
    d.assume("$\\sigma$ nondecreasing (for the logarithmic norm): every divided difference "
             "$S = (\\sigma(s) - \\sigma(t))/(s - t) \\in [0, K_1]$")
    d.assume("$\\nu(W) := \\max_{S \\subseteq \\{1..n\\}} \\lambda_{\\max}(\\mathrm{sym}(P_S W))"
             " \\ge 0$, $P_S$ the coordinate projector, $\\mathrm{sym}(M) = (M + M^T)/2$")
    d.step(Tex(r"\sigma(W_jX + b_j) - \sigma(W_j'X' + b_j')"), "=",
           Tex(r"S_j\,(W_j' D + \Delta W_j X + \Delta b_j)"),
           "componentwise mean value / divided differences, $S_j$ diagonal")
    d.step(Tex(r"D_{k+1}"), "=", Tex(r"(I + M_k)D_k + \sum_j \Delta U^j_k S_j(\Delta W_j X_k + "
                                      r"\Delta b_j),\quad M_k = \sum_j \Delta U^j_k S_j W_j'"),
           "one Euler step")
    d.step(Tex(r"\|I + M\|_2^2"), "=", Tex(r"\lambda_{\max}(I + 2\,\mathrm{sym}(M) + M^TM) \le "
                                            r"1 + 2\mu_2(M) + \|M\|_2^2"),
           "$\\mu_2(M) := \\lambda_{\\max}(\\mathrm{sym}(M))$, Weyl")
    d.step(Tex(r"\mu_2(S W)"), "<=", Tex(r"K_1\,\nu(W)\quad (S \in [0, K_1]^n)"),
           "$S \\mapsto \\lambda_{\\max}(\\mathrm{sym}(SW))$ is convex: the maximum over the "
           "box is at a vertex $K_1 P_S$")
    d.step(Tex(r"\mu_2(\pm\Delta U^j S_j W_j')"), "<=",
           Tex(r"|\Delta U^j|K_1(\nu(\pm\bar W_j) + r)"),
           "$\\mu_2$ is subadditive, $\\mu_2(SE) \\le \\|SE\\|_2 \\le K_1 r$ for "
           "$W' = \\bar W + E$")
    d.then("=>", Tex(r"\|I + M_k\|_2 \le q_k = \min\Big(1 + K_1\rho w_k,\ \sqrt{1 + 2K_1(\nu_k + "
                     r"r w_k) + K_1^2\rho^2 w_k^2}\Big)"), "both bounds hold")
    d.step(Tex(r"\|D_k\|"), "<=", Tex(r"a_k\|\Delta_{in}\| + \sum_j G_{j,k}\|\Delta_j\| \le "
                                       r"l_k\|\Delta\|"),
           "induction with $a_{k+1} = q_ka_k$, $G_{j,k+1} = q_kG_{j,k} + K_1\\sqrt{c_k^2+1}"
           "|\\Delta U^j_k|$ (per-step Gronwall: each forcing is carried only by later "
           "steps); Cauchy-Schwarz")
    d.step(Tex(r"X_{k+1}"), "=", Tex(r"(I + M_k)X_k + \sum_j\Delta U^j_k\sigma(b_j)"),
           "divided differences between $W_jX_k + b_j$ and $b_j$")
    d.then("=>", Tex(r"\|X_{k+1}\| \le q_k c_k + \alpha_k,\quad \alpha_k \ge \sum_j|\Delta U^j_k|"
                     r"\,\|\sigma(b_j)\|"), "triangle inequality")
    d.step(Tex(r"\|X_{k}(\theta)\|"), "<=", Tex(r"\|X_k(\bar\theta)\| + l_k r \le A_k + l_k r"),
           "the Lipschitz bound of $\\theta \\mapsto X_k$ already proved (centre trajectory; "
           "$A_k$ from a rigorous interval Euler run at $\\bar\\theta$)")
    d.step(Tex(r"\text{exact flow on interval } k"), "->",
           Tex(r"\|D(t_{k+1})\| \le F_k(\|D(t_k)\| + \text{forcing}),\ F_k = e^{\min(K_1\rho w_k, "
               r"K_1(\nu_k + rw_k) + K_1^2\rho^2w_k^2/2)}"),
           "$D^+\\|D\\| \\le \\mu_2(A(t))\\|D\\| + \\|f\\|$ and " + _GRONWALL
           + "; Euler sub-steps: $\\sqrt{1 + 2a + b^2} \\le e^{a + b^2/2}$")
    if order == 2:
        d.section(second_order_derivation(continuous=False))
    return d


def second_order_derivation(continuous: bool = False) -> Derivation:
    """Gradient-Lipschitz (second order) bound: Gronwall on $D^2_\\theta X$."""
    d = Derivation("Second order: Lipschitz bound of the parameter gradient")
    d.assume("$|\\sigma'(s) - \\sigma'(t)| \\le K_2|s - t|$; $e_k$ bounds the bilinear map "
             "$D^2_\\theta X_k$, $l_k$ bounds $D_\\theta X_k$, $c_k$ bounds $X_k$ on the ball")
    d.step(Tex(r"D^2X_{k+1}[u,v]"), "=",
           Tex(r"D^2X_k + \sum_j\Delta U^j_k\big(\sigma''(z_j)\odot Dz_j[u]\odot Dz_j[v] + "
               r"\sigma'(z_j)\odot(U_jDX_k[v] + V_jDX_k[u] + W_jD^2X_k[u,v])\big)"),
           "product and chain rule on one Euler step ($U_j, V_j$: the $W_j$-blocks)")
    d.step(Tex(r"\|Dz_j[u]\|"), "<=", Tex(r"(\sqrt{c_k^2+1} + \rho l_k)\|u\| = m_k\|u\|"),
           "$Dz_j[u] = U_jX_k + u_{b_j} + W_jDX_k[u]$")
    d.step(Tex(r"\sum_j|\Delta U^j_k|\,\|U_j\|"), "<=", Tex(r"\|\Delta U_k\|_2\|u\|"),
           "Cauchy-Schwarz over $j$")
    d.step(Tex(r"e_{k+1}"), "<=",
           Tex(r"q_ke_k + K_2m_k^2\|\Delta U_k\|_1 + 2K_1l_k\|\Delta U_k\|_2"),
           "$\\|p\\odot q\\| \\le \\|p\\|\\|q\\|$; $\\|I + \\sum_j\\Delta U^j\\sigma'(z_j)W_j\\|"
           " \\le q_k$ as in the first order")
    if continuous:
        d.then("=>", Tex(r"h_X = (K_2m^2 + 2K_1l_X)V_1e^{K_1\rho V_1},\ m = \sqrt{c_X^2+1} + "
                         r"\rho l_X"), _GRONWALL + " (continuous limit; $\\|\\Delta U\\|_2 "
                         "\\le \\|\\Delta U\\|_1$)")
    d.step(Tex(r"\|D^2Y[u,v]\|"), "<=", Tex(r"g\|u\|\|v\|,\ g = \tfrac12\big(\rho_Ce_N + "
                                             r"\sqrt{\rho_C^2e_N^2 + 4l_N^2}\big)"),
           "$D^2Y = U_CDX_N[v] + V_CDX_N[u] + CD^2X_N$; block Cauchy-Schwarz")
    d.step(Tex(r"\|\nabla L(\theta) - \nabla L(\theta')\|"), "<=",
           Tex(r"\max_i\big(H\,l_Y^2 + G\,g\big)\|\theta - \theta'\|"),
           "$D^2(\\lambda\\circ Y) = \\nabla^2\\lambda[DY,DY] + \\nabla\\lambda\\cdot D^2Y$; mean "
           "value theorem on the convex ball")
    return d


def _program_section(formula: RecursiveFormula, title: str) -> Derivation:
    d = Derivation(title)
    for df in formula.definitions:
        d.step(df.symbol, ":=", df.expr, df.why)
    return d


# ------------------------------------------------------------------------------------
# N -> infinity
# ------------------------------------------------------------------------------------


def uniform_limits() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    r"""SymPy limits $N \to \infty$ of the uniform-step factors (each: ``(expr, limit)``).

    * ``"product"``: $(1 + K_1\rho V_1/N)^N \to e^{K_1\rho V_1}$ (the Euler product of
      ``MATH.md``),
    * ``"lognorm"``: $(1 + 2\lambda/N + b^2/N^2)^{N/2} \to e^{\lambda}$ (the Euler
      factor with the logarithmic norm; $\lambda = K_1(\nu + r)V_1$, $b = K_1\rho V_1$),
    * ``"flow"``: $N(\lambda/N + b^2/(2N^2)) \to \lambda$ (exponent of the flow factor),
    * ``"bound"``: the discrete ``MATH.md`` bound $L(P_N)$ with $P_N$ the product, whose
      limit is the continuous bound $L(e^{K_1\rho V_1})$.
    """
    N = sp.Symbol("N", positive=True, integer=True)
    lam, b = _nn("lambda"), _nn("b")
    out: dict[str, tuple[sp.Expr, sp.Expr]] = {}
    prod = (1 + K1 * RHO * V1 / N) ** N
    out["product"] = (prod, sp.limit(prod, N, sp.oo))
    ln = (1 + 2 * lam / N + b ** 2 / N ** 2) ** (N / 2)
    out["lognorm"] = (ln, sp.limit(ln, N, sp.oo))
    fl = N * (lam / N + b ** 2 / (2 * N ** 2))
    out["flow"] = (fl, sp.limit(fl, N, sp.oo))
    P = sp.Symbol("P", positive=True)
    alpha = K1 * BETA + sp.sqrt(NS) * s0
    cX = ((RHO_A * XI + BETA_A) + alpha * V1) * P
    lX = P * sp.sqrt(XI ** 2 + 1 + K1 ** 2 * (cX ** 2 + 1) * V2 ** 2)
    L = sp.sqrt(cX ** 2 + 1 + RHO_C ** 2 * lX ** 2)
    disc = L.subs(P, prod)
    lim = sp.limit(disc, N, sp.oo)
    out["bound"] = (disc, lim)
    out["continuous"] = (L.subs(P, sp.exp(K1 * RHO * V1)), sp.simplify(
        lim - L.subs(P, sp.exp(K1 * RHO * V1))))
    return out


def limit_derivation() -> Derivation:
    """$\\lim_{N\\to\\infty}$ of the uniform-step discrete bound = the continuous bound."""
    lims = uniform_limits()
    N = sp.Symbol("N", positive=True, integer=True)
    d = Derivation("N -> infinity: the continuous bound is the limit of the discrete ones")
    d.assume("uniform steps $\\|\\Delta U_k\\|_1 = V_1/N$ (e.g. a neural ODE on a uniform "
             "grid); all other inputs fixed")
    for key, why in (("product", "sympy.limit; $(1 + K_1\\rho V_1/N)^N \\uparrow "
                      "e^{K_1\\rho V_1}$"),
                     ("lognorm", "sympy.limit: the logarithmic-norm Euler factor"),
                     ("flow", "sympy.limit: the exponent of the flow factor")):
        e, lim = lims[key]
        d.step(sp.Limit(e, N, sp.oo), "=", lim, why)
    e, lim = lims["bound"]
    d.step(Tex(r"\lim_{N\to\infty} L_{\mathrm{Euler}}(N)"), "=", lim,
           "sympy.limit of the whole discrete bound")
    d.step(Tex(r"\lim_{N\to\infty} L_{\mathrm{Euler}}(N) - L_{\mathrm{cont}}"), "=",
           lims["continuous"][1], "sympy.simplify")
    return d
