r"""Rigorous suprema of $|g(x)|$ over real intervals (no float optimiser involved).

Guarantee: :func:`rigorous_sup_abs` returns an :class:`~symlip.arith.enclosure.Enclosure`
``[lo, hi]`` of $\sup_{x \in D} |g(x)|$ for a SymPy expression $g$ on the domain $D$;
``hi`` is rounded up, ``lo`` down.  (The mean-value form and the exact certificate below
need $g \in C^1$ / $C^2$; they are switched off when $g$ holds ``Piecewise``, ``Abs``,
``Max``, ``sign``, ``Heaviside``... — then only the natural interval extension bounds a
box, which stays an enclosure even across jumps.)  It combines

* **interval branch and bound** on the compact part $[\max(a,-M), \min(b, M)]$: each box
  $X$ with centre $c$ is bounded by the intersection of the natural interval extension
  $g(X)$ and the mean-value form $g(c) + g'(X)(X - c)$ (second-order tight near a
  maximum); boxes whose upper bound is below the best certified value $|g(c)|$ are
  discarded;
* a **tail bound** for $|x| \ge M$ (:func:`exp_tail_enclosure`): for expressions built
  from $x$, $e^{\pm x}$ and rational operations, $g$ is rewritten as a rational function
  of $u = e^{-|x|} \in (0, e^{-M}]$ and $v_k = |x|^k e^{-|x|} \in (0, M^k e^{-M}]$
  (valid for $M \ge k$, where $t^k e^{-t}$ decreases), and evaluated in intervals;
* optionally an **exact certificate** (:func:`certify_exact_max`): if $g'(c) = 0$
  exactly and $s\,g'' < 0$ on a box around $c$ ($s$ the sign of $g(c)$), then
  $|g| \le |g(c)|$ on that box; branch and bound proves $|g| < |g(c)|$ elsewhere, so
  the supremum is exactly $|g(c)|$.

Examples:
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> r = rigorous_sup_abs(x * sp.exp(-x), x, 0, 5)   # max at x = 1: 1/e
    >>> r.exact, r.enclosure.width < 1e-12
    (exp(-1), True)
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp
from mpmath import iv

from symlip.arith.enclosure import Enclosure, Truth, compare, endpoints, iv_from, working_precision
from symlip.symbolic.compile import enclose, interval_lambdify
from symlip.symbolic.derivation import Derivation, Tex

__all__ = ["SupResult", "rigorous_sup_abs", "exp_tail_enclosure", "certify_exact_max"]

#: binary precision of the branch and bound
SUP_PREC = 104


@dataclass
class SupResult:
    """Outcome of :func:`rigorous_sup_abs`.

    Attributes:
        enclosure: encloses $\\sup_D |g|$ (upper end rounded up).
        argmax: an enclosure of a point where $|g|$ comes within ``tol`` of the sup
            (``None`` when the sup is approached only in a tail).
        exact: the exact value when :func:`certify_exact_max` proved one, else ``None``.
        argmax_exact: the certified exact maximiser in that case.
        evaluations: number of box evaluations (a cost measure).
        derivation: the steps of the proof.
    """

    enclosure: Enclosure
    argmax: Enclosure | None = None
    exact: sp.Expr | None = None
    argmax_exact: sp.Expr | None = None
    evaluations: int = 0
    derivation: Derivation = field(default_factory=lambda: Derivation("rigorous sup"))


# -------------------------------------------------------------------------------------
# tails
# -------------------------------------------------------------------------------------


def exp_tail_enclosure(expr: sp.Expr, x: sp.Symbol, M: int | sp.Expr,
                       side: str, prec: int = SUP_PREC) -> tuple[Enclosure, str]:
    r"""Enclosure of the range of ``expr`` on the tail $\{x : \pm x \ge M\}$.

    Method (a proof, not a sample): write $t = \pm x \ge M$, $u = e^{-t}$, so that
    ``expr`` (after ``rewrite(exp)``) becomes $N(t, u) / D(t, u)$ with polynomials $N,
    D$.  Every monomial $t^k u^j$ with $k \ge 1$ must have $j \ge 1$; it is rewritten
    $v_k u^{j-1}$ with $v_k = t^k e^{-t}$.  Since $\frac{d}{dt} t^k e^{-t} =
    t^{k-1}(k - t) e^{-t} \le 0$ for $t \ge k$, $0 < v_k \le M^k e^{-M}$ when $M \ge k$;
    and $0 < u \le e^{-M}$.  Interval evaluation of $N / D$ on these ranges encloses
    ``expr`` on the whole tail.

    Args:
        expr: a SymPy expression in ``x`` built from $x$, $e^{\pm x}$ (also ``tanh``,
            ``sigmoid`` via ``rewrite(exp)``) and rational operations.
        x: the variable.
        M: where the tail starts (an integer or rational, ``M > 0``).
        side: ``"+"`` for $x \ge M$, ``"-"`` for $x \le -M$.
        prec: binary precision.

    Returns:
        ``(enclosure, lemma)``: the enclosure of the range and a one-line statement of
        the argument (for the derivation).

    Raises:
        ValueError: the expression is not of that form, a monomial $t^k$ has no
            decaying factor, $M < k$, or the denominator may vanish.
    """
    if side not in ("+", "-"):
        raise ValueError(f"{side=} must be '+' or '-'")
    M = sp.nsimplify(M)
    t = sp.Dummy("t", positive=True)
    u = sp.Dummy("u", positive=True)
    s = 1 if side == "+" else -1
    e = sp.sympify(expr).rewrite(sp.exp).subs(x, s * t)
    e = e.subs(sp.exp(t), 1 / u)
    if any(a.has(t) for a in e.atoms(sp.exp)):
        raise ValueError(f"{expr} is not a rational function of x and exp(x)")
    num, den = sp.fraction(sp.together(e))
    try:
        pn = sp.Poly(sp.expand(num), t, u)
        pd = sp.Poly(sp.expand(den), t, u)
    except sp.PolynomialError as exc:
        raise ValueError(f"{expr} is not a rational function of x and exp(x): {exc}") from None
    with working_precision(prec):
        u_iv = iv_from(mpmath.mpf(0), endpoints(enclose(sp.exp(-M), prec).to_interval())[1])

        def ev(p: sp.Poly) -> Any:
            total = iv.mpf(0)
            for (k, j), coeff in p.terms():
                c = enclose(coeff, prec).to_interval()
                if k == 0:
                    term = c * u_iv**j
                else:
                    if j < 1:
                        raise ValueError(
                            f"{expr}: the monomial t^{k} u^{j} has no decaying factor on the tail"
                        )
                    if M < k:
                        raise ValueError(f"tail start {M=} must be >= {k} for t^{k} e^(-t)")
                    vmax = enclose(M**k * sp.exp(-M), prec).to_interval()
                    v_iv = iv_from(mpmath.mpf(0), endpoints(vmax)[1])
                    term = c * v_iv * u_iv ** (j - 1)
                total = total + term
            return total

        n_iv, d_iv = ev(pn), ev(pd)
        dlo, dhi = endpoints(d_iv)
        if dlo <= 0 <= dhi:
            raise ValueError(f"denominator of {expr} may vanish on the tail {side}{M}")
        res = Enclosure.from_interval(n_iv / d_iv)
    where = f"x >= {M}" if side == "+" else f"x <= -{M}"
    lemma = (f"tail {where}: with $t = |x|$, $u = e^{{-t}} \\in (0, e^{{-{sp.latex(M)}}}]$ and "
             f"$0 < t^k e^{{-t}} \\le {sp.latex(M)}^k e^{{-{sp.latex(M)}}}$ ($t^k e^{{-t}}$ "
             f"decreases for $t \\ge k$), interval evaluation of the rational form in "
             f"$(u, t^k e^{{-t}})$")
    return res, lemma


# -------------------------------------------------------------------------------------
# branch and bound on a compact interval
# -------------------------------------------------------------------------------------


#: functions that can make g non-differentiable or discontinuous: with any of them the
#: mean-value form (it needs $g \in C^1$ on the box) and the exact certificate are off
_NON_SMOOTH = (sp.Piecewise, sp.Heaviside, sp.sign, sp.floor, sp.ceiling, sp.frac, sp.Abs,
               sp.Max, sp.Min, sp.Mod, sp.DiracDelta)


def _is_smooth(g: sp.Expr) -> bool:
    """False when ``g`` holds a function that may break $C^1$ (see ``_NON_SMOOTH``)."""
    return not sp.sympify(g).has(*_NON_SMOOTH)


class _Evaluator:
    """Interval evaluations of g on boxes: natural extension meet mean-value form.

    The mean-value form $g(c) + g'(X)(X - c)$ is used only when $g$ is built from smooth
    functions (:func:`_is_smooth`): across a jump of a ``Piecewise`` SymPy's derivative
    misses the jump and the form would exclude values $g$ takes.
    """

    def __init__(self, g: sp.Expr, x: sp.Symbol, prec: int) -> None:
        self.prec = prec
        self.g = interval_lambdify([x], g, prec=prec)
        self.smooth = _is_smooth(g)
        self.dg = interval_lambdify([x], sp.diff(g, x), prec=prec) if self.smooth else None
        self.count = 0

    def point(self, c: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
        with working_precision(self.prec):
            return endpoints(self.g(iv_from(c, c)))

    def box(self, a: mpmath.mpf, b: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf,
                                                          mpmath.mpf]:
        """(lo, hi) of g on [a, b], and (lo, hi) of g at the centre."""
        self.count += 1
        with working_precision(self.prec):
            X = iv_from(a, b)
            c = mpmath.ldexp(mpmath.fadd(a, b, exact=True), -1)
            gc = self.g(iv_from(c, c))
            try:
                nat_lo, nat_hi = endpoints(self.g(X))
            except (ValueError, ZeroDivisionError):
                nat_lo, nat_hi = -mpmath.inf, mpmath.inf
            try:
                if self.dg is None:
                    raise ValueError("no mean-value form for a non-smooth g")
                mv = gc + self.dg(X) * (X - iv_from(c, c))
                mv_lo, mv_hi = endpoints(mv)
            except (ValueError, ZeroDivisionError):
                mv_lo, mv_hi = -mpmath.inf, mpmath.inf
            c_lo, c_hi = endpoints(gc)
        lo, hi = max(nat_lo, mv_lo), min(nat_hi, mv_hi)
        if lo > hi:  # both enclose the range: cannot be disjoint unless rounding bites
            lo, hi = min(nat_lo, mv_lo), max(nat_hi, mv_hi)
        return lo, hi, c_lo, c_hi


def _neg(v: mpmath.mpf) -> mpmath.mpf:
    """-v exactly (``-v`` on an mpf rounds to the global ``mp.prec``, to nearest)."""
    return mpmath.fneg(v, exact=True)


def _abs_upper(lo: mpmath.mpf, hi: mpmath.mpf) -> mpmath.mpf:
    return max(_neg(lo), hi)


def _abs_lower(lo: mpmath.mpf, hi: mpmath.mpf) -> mpmath.mpf:
    if lo >= 0:
        return lo
    if hi <= 0:
        return _neg(hi)
    return mpmath.mpf(0)


def _branch_and_bound(
    ev: _Evaluator,
    boxes: Sequence[tuple[mpmath.mpf, mpmath.mpf]],
    tol: mpmath.mpf,
    below: mpmath.mpf | None = None,
    max_evals: int = 200_000,
) -> tuple[mpmath.mpf, mpmath.mpf, tuple[mpmath.mpf, mpmath.mpf] | None]:
    """Enclose max |g| over the union of ``boxes``.

    With ``below`` set, the goal is to prove max |g| < below (stop as soon as every box
    is certified below it); returns ``(lower, upper, best_box)``.
    """
    best_lo = mpmath.mpf(0)
    best_box = None
    heap: list[tuple[mpmath.mpf, int, mpmath.mpf, mpmath.mpf]] = []
    n = 0

    def push(a: mpmath.mpf, b: mpmath.mpf) -> None:
        nonlocal best_lo, best_box, n
        lo, hi, clo, chi = ev.box(a, b)
        lower = _abs_lower(clo, chi)
        if lower > best_lo:
            best_lo, best_box = lower, (a, b)
        n += 1
        heapq.heappush(heap, (_neg(_abs_upper(lo, hi)), n, a, b))

    for a, b in boxes:
        push(a, b)
    while heap:
        neg_u, _, a, b = heap[0]
        U = _neg(neg_u)
        if below is not None:
            if U < below:
                return best_lo, U, best_box
            if best_lo >= below:
                return best_lo, U, best_box
        elif U - best_lo <= tol:
            return best_lo, max(U, best_lo), best_box
        heapq.heappop(heap)
        mid = mpmath.ldexp(mpmath.fadd(a, b, exact=True), -1)
        if not (a < mid < b) or ev.count > max_evals:
            # cannot split further: report what is proved
            rest = max([U] + [_neg(h[0]) for h in heap])
            return best_lo, rest, best_box
        push(a, mid)
        push(mid, b)
    return best_lo, best_lo, best_box  # pragma: no cover - heap never empties first


def _mpf_of(v: sp.Expr, prec: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    e = enclose(v, prec)
    return e.lower, e.upper


def rigorous_sup_abs(
    expr: Any,
    x: sp.Symbol,
    lo: Any = -sp.oo,
    hi: Any = sp.oo,
    *,
    M: int = 40,
    tol: float = 1e-14,
    prec: int = SUP_PREC,
    name: str = "g",
    max_evals: int = 200_000,
    candidates: Sequence[sp.Expr] = (),
) -> SupResult:
    r"""Rigorous enclosure of $\sup_{lo < x < hi} |g(x)|$.

    Args:
        expr: $g$, a SymPy expression in ``x``, $C^1$ on the domain.
        x: the variable.
        lo, hi: the domain ends (``-oo``/``oo`` allowed; infinite ends need a tail bound,
            see :func:`exp_tail_enclosure`).
        M: the compact part is $[-M, M] \cap$ domain.
        tol: target width of the enclosure (the branch and bound stops when the upper
            bound of every open box is within ``tol`` of the best certified value).
        prec: binary precision of the interval arithmetic.
        name: how the derivation names $g$.
        max_evals: budget of box evaluations.
        candidates: exact points $c$ with $g'(c) = 0$ to try to certify as the exact
            argmax (:func:`certify_exact_max`).  Points near the numerical argmax are
            also tried after identification with ``sympy.nsimplify`` (a guess; only
            the certificate makes it exact).

    Returns:
        :class:`SupResult` whose ``enclosure`` contains the supremum (upper end rounded
        up).

    Raises:
        ValueError: an infinite end without a provable tail bound.
    """
    g = sp.sympify(expr)
    lo, hi = sp.sympify(lo), sp.sympify(hi)
    d = Derivation(f"rigorous supremum of |{name}| on ({lo}, {hi})")
    a = lo if lo.is_finite else -sp.Integer(M)
    b = hi if hi.is_finite else sp.Integer(M)
    if a > b:  # domain entirely in a tail
        a = b = None
    tail_upper = mpmath.mpf(0)
    tail_lower = mpmath.mpf(0)
    tails: list[tuple[str, Enclosure, str]] = []
    for side, end in (("-", lo), ("+", hi)):
        if end.is_finite:
            continue
        rng, lemma = exp_tail_enclosure(g, x, M, side, prec)
        tails.append((side, rng, lemma))
        tail_upper = max(tail_upper, _abs_upper(rng.lower, rng.upper))
        tail_lower = max(tail_lower, _abs_lower(rng.lower, rng.upper))
        rel = r"x \ge" if side == "+" else r"x \le -"
        d.step(Tex(rf"\sup_{{{rel} {M}}} |{name}(x)|"),
               "<=", Tex(outward(_abs_upper(rng.lower, rng.upper))), lemma)
    ev = _Evaluator(g, x, prec)
    best_lo, best_hi, best_box = mpmath.mpf(0), mpmath.mpf(0), None
    if a is not None:
        alo, _ = _mpf_of(a, prec)
        _, bhi = _mpf_of(b, prec)
        best_lo, best_hi, best_box = _branch_and_bound(ev, [(alo, bhi)], mpmath.mpf(tol),
                                                       max_evals=max_evals)
        d.step(Tex(rf"\sup_{{x \in [{sp.latex(a)}, {sp.latex(b)}]}} |{name}(x)|"), "in",
               Tex(rf"[{outward(best_lo, False)}, {outward(best_hi)}]"),
               f"interval branch and bound, mean-value form ${name}(c) + {name}'(X)(X - c)$, "
               f"{ev.count} boxes")
    lower = max(best_lo, tail_lower)
    upper = max(best_hi, tail_upper)
    enc = Enclosure(lower, upper)
    argmax = None
    if best_box is not None and best_lo >= tail_upper:
        argmax = Enclosure(best_box[0], best_box[1])
    # by keyword: positionally ev.count and d landed in argmax_exact / evaluations and
    # the derivation (the proof of the branch and bound) was dropped
    res = SupResult(enc, argmax, exact=None, argmax_exact=None, evaluations=ev.count,
                    derivation=d)
    # try to prove an exact maximiser
    tries = list(candidates)
    if argmax is not None:
        guess = _identify(argmax)
        if guess is not None and all(sp.simplify(guess - c0) != 0 for c0 in tries):
            tries.append(guess)
    for c in tries:
        cert = certify_exact_max(g, x, c, lo, hi, M=M, prec=prec, name=name, ev=ev,
                                 tails=tails)
        if cert is not None:
            value, sub = cert
            venc = enclose(value, prec)
            if compare(venc, "<=", enc) is Truth.FALSE and not enc.contains(venc):
                continue  # pragma: no cover - would contradict the branch and bound
            d.section(sub)
            d.step(Tex(rf"\sup |{name}|"), "=", value, "exact maximiser certified")
            res.exact = value
            res.enclosure = venc
            res.argmax = enclose(c, prec)
            res.argmax_exact = sp.nsimplify(c)
            break
    d.step(Tex(rf"\sup |{name}|"), "in", Tex(rf"[{outward(res.enclosure.lower, False)}, "
                                               rf"{outward(res.enclosure.upper)}]"),
           "compare compact part and tails; outward rounded")
    res.evaluations = ev.count
    return res


def outward(v: mpmath.mpf, up: bool = True, digits: int = 17) -> str:
    from symlip.arith.enclosure import outward_decimal

    return outward_decimal(v, digits, up)


def _identify(box: Enclosure) -> sp.Expr | None:
    """Guess an exact number in ``box`` (0, a small rational, a simple surd)."""
    lo, hi = box.lower, box.upper
    if lo <= 0 <= hi:
        return sp.Integer(0)
    mid = float((lo + hi) / 2)
    try:
        g = sp.nsimplify(mid, [sp.pi, sp.E], tolerance=max(float(hi - lo), 1e-12))
    except (ValueError, TypeError):  # pragma: no cover
        return None
    if g.is_Float:
        return None
    e = enclose(g)
    return g if (e.upper >= lo and e.lower <= hi) else None


def certify_exact_max(
    g: sp.Expr,
    x: sp.Symbol,
    c: sp.Expr,
    lo: sp.Expr,
    hi: sp.Expr,
    *,
    M: int = 40,
    prec: int = SUP_PREC,
    name: str = "g",
    ev: _Evaluator | None = None,
    tails: Sequence[tuple[str, Enclosure, str]] | None = None,
) -> tuple[sp.Expr, Derivation] | None:
    r"""Prove $\sup |g| = |g(c)|$ exactly, or return ``None``.

    Certificate: (1) $g'(c) = 0$ (``sympy.simplify``); (2) with $s = \operatorname{sign}
    g(c)$, $s\,g''(X) < 0$ on $X = [c - \delta, c + \delta]$ (interval evaluation), so
    $s\,g$ is concave on $X$ with a critical point at $c$: $s\,g \le |g(c)|$ on $X$; and
    $s\,g(X) > -|g(c)|$; (3) branch and bound proves $|g| < |g(c)|$ on the rest of the
    compact part $[\max(lo, -M), \min(hi, M)]$; (4) the tail enclosures (``tails``, or
    :func:`exp_tail_enclosure` when ``None``) are below $|g(c)|$.

    Returns:
        ``(value, derivation)`` with ``value`` $= |g(c)| = \sup_{(lo, hi)} |g|$, or
        ``None`` when any part of the certificate fails (then nothing is claimed).
    """
    if not _is_smooth(g):  # the concavity argument needs g in C^2 near c
        return None
    c = sp.nsimplify(c)
    lo, hi = sp.sympify(lo), sp.sympify(hi)
    if tails is None:  # prove the tails here (an infinite end needs its own bound)
        try:
            tails = [(side, *exp_tail_enclosure(g, x, M, side, prec))
                     for side, end in (("-", lo), ("+", hi)) if not end.is_finite]
        except ValueError:
            return None
    cenc = enclose(c, prec)
    for end, op in ((lo, ">"), (hi, "<")):
        if end.is_finite and compare(cenc, op, enclose(end, prec)) is not Truth.TRUE:
            return None
    dg = sp.diff(g, x)
    if sp.simplify(dg.subs(x, c)) != 0:
        return None
    value = sp.simplify(g.subs(x, c))
    venc = enclose(value, prec)
    if venc.lower > 0:
        s = 1
    elif venc.upper < 0:
        s = -1
        value = -value
        venc = enclose(value, prec)
    else:
        return None
    ev = ev or _Evaluator(g, x, prec)
    g2 = interval_lambdify([x], s * sp.diff(g, x, 2), prec=prec)
    clo, chi = _mpf_of(c, prec)
    sub = Derivation(f"exact maximiser of |{name}| at x = {c}")
    sub.step(Tex(f"{name}'({sp.latex(c)})"), "=", 0, "exact (SymPy simplify)")
    delta = mpmath.mpf(1) / 4
    ok = False
    for _ in range(20):
        with working_precision(prec):
            X = iv_from(clo - delta, chi + delta)
            try:
                d2hi = endpoints(g2(X))[1]
                glo = endpoints(s * ev.g(X))[0]
            except (ValueError, ZeroDivisionError):
                d2hi, glo = mpmath.inf, -mpmath.inf
        if d2hi < 0 and glo > _neg(venc.lower):
            ok = True
            break
        delta /= 2
    if not ok:
        return None
    a = lo if lo.is_finite else -sp.Integer(M)
    b = hi if hi.is_finite else sp.Integer(M)
    alo, _ = _mpf_of(a, prec)
    _, bhi = _mpf_of(b, prec)
    sgn = "" if s == 1 else "-"
    sub.step(Tex(rf"{sgn}{name}''(x)"), "<", 0,
             f"for $|x - {sp.latex(c)}| \\le {outward(delta)}$ (interval evaluation): concave, "
             f"so $|{name}| \\le |{name}({sp.latex(c)})|$ there")
    boxes = []
    if alo < clo - delta:
        boxes.append((alo, clo - delta))
    if chi + delta < bhi:
        boxes.append((chi + delta, bhi))
    if boxes:
        _, up, _ = _branch_and_bound(ev, boxes, mpmath.mpf(0), below=venc.lower,
                                     max_evals=ev.count + 50_000)
        if not up < venc.lower:
            return None
        sub.step(Tex(rf"\sup_{{\text{{rest of }}[{sp.latex(a)}, {sp.latex(b)}]}} |{name}|"),
                 "<=", Tex(outward(up)), "interval branch and bound")
    for _side, rng, _lemma in tails:
        if not _abs_upper(rng.lower, rng.upper) < venc.lower:
            return None
    sub.step(Tex(rf"\sup |{name}|"), "=", value,
             "compare all candidates: every other part is certified below "
             f"$|{name}({sp.latex(c)})|$")
    return value, sub

