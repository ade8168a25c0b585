r"""The one-command demo: certify a small trained network and write a report folder.

:func:`run_demo` loads the model shipped with symlip (``symlip/data/demo_model.npz``,
a 2-16-16-1 tanh MLP trained on a synthetic regression set by
``scripts/train_demo_model.py``) and its data, and certifies

* the activation constants of tanh ($S_0, K_1, K_2$, by critical points);
* the input-Lipschitz constant (per-layer product bound above, Jacobian search and a
  certified difference quotient below, a local bound on input balls);
* the parameter-Lipschitz constant on balls $B_r(\bar\theta)$ over a range of radii;
* the gradient-Lipschitz (smoothness) constant of the mean squared error on the same
  balls, and a few steps of gradient descent with the certified step $1/L_{grad}$;

then writes ``report.md``, ``report.tex``, three PNG plots, the model and data files,
and a certificate per quantity (re-checkable with ``symlip verify``) to a folder.

Examples:
    >>> from symlip.app.demo import load_demo
    >>> net, x, y = load_demo()
    >>> net.widths, x.shape, y.shape
    ([2, 16, 16, 1], (256, 2), (256, 1))
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from symlip.errors import InputError

__all__ = ["DemoResult", "Progress", "demo_files", "load_demo", "run_demo"]

#: names of the shipped files (package data under ``symlip/data``)
MODEL_FILE = "demo_model.npz"
DATA_FILE = "demo_x.npy"
TARGETS_FILE = "demo_y.npy"

#: radii of the parameter ball for the sweep (log-spaced)
DEFAULT_RADII: tuple[float, ...] = tuple(float(r) for r in np.logspace(-4, 1, 11))
#: radius of the certificates, the summary table and the certified descent steps
MAIN_RADIUS = 1e-3
#: radius of the input balls of the local input bound, and how many balls
INPUT_RADIUS = 0.05
LOCAL_CENTRES = 64
DESCENT_STEPS = 20


def demo_files() -> dict[str, Path]:
    """Paths of the shipped model, data and targets (inside the installed package)."""
    base = resources.files("symlip") / "data"
    out = {}
    for role, name in (("model", MODEL_FILE), ("data", DATA_FILE), ("targets", TARGETS_FILE)):
        p = Path(str(base / name))
        if not p.is_file():
            raise InputError(f"the demo file {p} is missing from the symlip installation "
                             "(reinstall symlip, or run scripts/train_demo_model.py)")
        out[role] = p
    return out


def load_demo() -> tuple[Any, np.ndarray, np.ndarray]:
    """The demo network, its data ``x`` (256, 2) and targets ``y`` (256, 1)."""
    from symlip.models.io import load

    f = demo_files()
    return load(f["model"]), np.load(f["data"]), np.load(f["targets"])


# ------------------------------------------------------------------------------------
# progress bar (stderr, only on a terminal)
# ------------------------------------------------------------------------------------


class Progress:
    """A tiny progress bar on ``stream`` (default stderr), drawn only on a terminal and
    only for steps running longer than a second (each step ends with a "done" line).

    Args:
        stream: where to draw.
        enabled: draw even if ``stream`` is not a TTY (``None``: only on a TTY).
        width: bar width in characters.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty()) if enabled is None else enabled
        self.width = width

    @contextlib.contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[str], None]]:
        """Context manager yielding ``advance(note="")``; erases the bar at the end."""
        done = 0
        t0 = time.perf_counter()

        def draw(note: str = "") -> None:
            # the bar appears only for steps that take more than a second
            if not self.enabled or time.perf_counter() - t0 < 1.0:
                return
            fill = int(self.width * done / max(total, 1))
            bar = "#" * fill + "." * (self.width - fill)
            line = f"\r  {label:<34} [{bar}] {done}/{total} {note}"
            self.stream.write(line[:110].ljust(110))
            self.stream.flush()

        def advance(note: str = "") -> None:
            nonlocal done
            done += 1
            draw(note)

        draw()
        try:
            yield advance
        finally:
            if self.enabled:
                dt = time.perf_counter() - t0
                self.stream.write("\r" + f"  {label:<34} done in {dt:.1f} s".ljust(110) + "\n")
                self.stream.flush()


# ------------------------------------------------------------------------------------
# the computation
# ------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What :func:`run_demo` computed and wrote.

    Attributes:
        out: the report folder.
        files: names of the files written (relative to ``out``).
        summary: rows of the summary table (quantity, certified upper, certified lower,
            sampled estimate, upper/lower).
        input: the input-Lipschitz :class:`~symlip.bounds.result.BoundResult`.
        params: parameter-Lipschitz results, one per radius.
        grads: gradient-Lipschitz results, one per radius.
        radii: the radii of the sweep.
        timings: seconds per step.
    """

    out: Path
    files: list[str]
    summary: list[list[str]]
    input: Any
    params: list[Any]
    grads: list[Any]
    radii: list[float]
    local_upper: Any = None
    descent: list[dict[str, Any]] = field(default_factory=list)
    certificates: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def summary_text(self) -> str:
        """The summary table as fixed-width text (what ``symlip demo`` prints)."""
        return _text_table(["quantity", "certified upper", "certified lower",
                            "sampled lower", "upper/lower"], self.summary)


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(s.rstrip() for s in out)


def _g(v: float | None, digits: int = 6) -> str:
    """A float (estimate, ratio) to ``digits`` significant digits, rounded to nearest."""
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def _up(v: Any, digits: int = 6) -> str:
    """A certified upper bound (an Enclosure, a float or a decimal string), rounded up."""
    from symlip.arith.enclosure import outward_decimal

    if v is None:
        return "-"
    if hasattr(v, "upper_str"):
        return v.upper_str(digits)
    return outward_decimal(v if isinstance(v, float) else float(v), digits, up=True) \
        if not isinstance(v, str) else _dec(v, digits, up=True)


def _down(v: Any, digits: int = 6) -> str:
    """A certified lower bound / a safe step size, rounded down."""
    from symlip.arith.enclosure import outward_decimal

    if v is None:
        return "-"
    if hasattr(v, "lower_str"):
        return v.lower_str(digits)
    return outward_decimal(float(v), digits, up=False)


def _dec(s: str, digits: int, up: bool) -> str:
    from symlip.arith.enclosure import outward_decimal, parse_decimal_enclosure

    e = parse_decimal_enclosure(s, s)
    return outward_decimal(e.upper if up else e.lower, digits, up=up)


def _check_out(out: Path, force: bool) -> None:
    from symlip.app import check_out_dir

    check_out_dir(out, force)


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_demo(out: str | os.PathLike[str] = "symlip-report", *, force: bool = False,
             radii: Sequence[float] | None = None, progress: Progress | None = None,
             certificates: bool = True) -> DemoResult:
    """Certify the shipped demo network and write the report folder ``out``.

    The files are computed in a staging folder next to ``out`` and moved in at the
    end, so an interrupted run leaves ``out`` as it was.

    Args:
        out: the report folder (created; must be empty or absent unless ``force``).
        force: overwrite the report files in a non-empty folder (other files stay).
        radii: radii of the parameter-ball sweep (default: 11 from 1e-4 to 10).
        progress: progress display (default: a bar on stderr when it is a terminal).
        certificates: also write and re-verify a certificate per quantity.

    Returns:
        :class:`DemoResult`.

    Raises:
        InputError: ``out`` is a non-empty folder and ``force`` is false, or is a file.
    """
    from symlip.app import report as rp
    from symlip.bounds.input import local_input_lipschitz
    from symlip.bounds.lipsdp import certified_input_lipschitz
    from symlip.bounds.param import param_lipschitz
    from symlip.bounds.smooth import certified_step, grad_lipschitz, loss_enclosure, loss_value

    outp = Path(out)
    _check_out(outp, force)
    radii = list(DEFAULT_RADII if radii is None else radii)
    if not radii or any(not (math.isfinite(r) and r > 0) for r in radii):
        raise InputError(f"radii={radii!r} must be finite positive numbers")
    prog = progress if progress is not None else Progress()
    timings: dict[str, float] = {}
    files = demo_files()
    outp.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{outp.name}.", suffix=".partial",
                                  dir=outp.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; the report is not
    try:
        t = time.perf_counter()
        net, X, Y = load_demo()
        act = net.activations[0]
        with prog.task("activation constants (tanh)", 1) as adv:
            consts = act.constants
            adv()
        timings["constants"] = time.perf_counter() - t

        t = time.perf_counter()
        with prog.task("input-Lipschitz bound", 1 + LOCAL_CENTRES) as adv:
            # the tightest certified global bound (verified LipSDP or the product)
            inp = certified_input_lipschitz(net, X)
            product_upper = float(inp.extra["methods"]["product"]["upper"])
            adv("global + lower")
            local, local_inputs = None, None
            for c in X[:LOCAL_CENTRES]:
                ball = local_input_lipschitz(net, c, INPUT_RADIUS)
                e, ins = ball.enclosure, ball.inputs
                if local is None or e.upper > local.upper:
                    local, local_inputs = e, ins
                adv(f"local, eps={INPUT_RADIUS}")
        timings["input"] = time.perf_counter() - t

        t = time.perf_counter()
        params = []
        with prog.task("parameter-Lipschitz sweep", len(radii)) as adv:
            for r in radii:
                params.append(param_lipschitz(net, X, r))
                adv(f"r={r:.2g}")
        timings["params"] = time.perf_counter() - t

        t = time.perf_counter()
        grads = []
        with prog.task("gradient-Lipschitz sweep (MSE)", len(radii)) as adv:
            for r in radii:
                grads.append(grad_lipschitz(net, X, Y, "mse", r))
                adv(f"r={r:.2g}")
        timings["grads"] = time.perf_counter() - t

        t = time.perf_counter()
        descent = []
        cur = net
        with prog.task("certified gradient descent", DESCENT_STEPS) as adv:
            for i in range(DESCENT_STEPS):
                before = loss_enclosure(cur, X, Y, "mse")
                st = certified_step(cur, X, Y, "mse", MAIN_RADIUS)
                nxt = cur.with_params(st.theta_next)
                after = loss_enclosure(nxt, X, Y, "mse")
                descent.append({
                    "step": i + 1, "eta": st.eta, "L_grad": st.L_grad.upper_float,
                    "in_ball": st.in_ball.name, "loss_before": before,
                    "loss_after": after, "guaranteed": st.guaranteed_decrease,
                    "actual": loss_value(cur, X, Y, "mse") - loss_value(nxt, X, Y, "mse"),
                })
                cur = nxt
                adv()
        timings["descent"] = time.perf_counter() - t

        # ---- files ----------------------------------------------------------------
        for role in ("model", "data", "targets"):
            shutil.copyfile(files[role], stage / files[role].name)
        t = time.perf_counter()
        with prog.task("plots", 3) as adv:
            i_main = _nearest(radii, MAIN_RADIUS)
            rp.plot_radius_sweep(
                stage / "radius_sweep.png", radii,
                [{"title": "parameter-Lipschitz constant of $\\theta \\mapsto f(x;\\theta)$",
                  "ylabel": "Lipschitz constant on $B_r(\\bar\\theta)$",
                  "upper": [p.upper for p in params],
                  "lower": [p.lower for p in params],
                  "estimate": [p.estimate for p in params]},
                 {"title": "gradient-Lipschitz constant of the MSE loss",
                  "ylabel": "Lipschitz constant of $\\nabla_\\theta L$ on $B_r(\\bar\\theta)$",
                  "upper": [g.upper for g in grads],
                  "upper_alt": ("looser: one evaluation on the hull",
                                [float(g.extra["upper_hull"]) for g in grads]),
                  "lower": [g.lower for g in grads],
                  "estimate": [g.estimate for g in grads]}],
                title=f"{_describe(net)}: certified bounds against the radius $r$")
            adv()
            labels = [f"layer {lay.name} ({lay.shape[1]}->{lay.shape[0]})"
                      for lay in net.layers]
            lam = None
            if local_inputs is not None:
                lam = [local_inputs[f"lambda_{k}"].upper_float for k in range(1, net.depth)]
                lam.append(local_inputs[f"rho_{net.depth}"].upper_float)
            rp.plot_layer_factors(
                stage / "layer_factors.png", labels,
                [float(d["factor_upper"]) for d in inp.per_layer], lam,
                product_upper, None if local is None else local.upper_float,
                inp.lower, inp.estimate,
                local_label=f"local factor $\\|D_k W_k\\|_2$ on the worst ball "
                            f"$B(x_i, {INPUT_RADIUS})$",
                title="input-Lipschitz product bound: per-layer factors")
            adv()
            rp.plot_activation(stage / "activation.png", act,
                               title="tanh and its derivatives with the certified constants")
            adv()
        timings["plots"] = time.perf_counter() - t

        certs: dict[str, str] = {}
        if certificates:
            t = time.perf_counter()
            with prog.task("certificates (write + verify)", 3) as adv, _chdir(stage):
                certs = _certificates(files, adv)
            timings["certificates"] = time.perf_counter() - t

        for p in stage.rglob("*"):  # certificates are written private (mkstemp)
            if p.is_file():
                os.chmod(p, 0o666 & ~umask)
        res = DemoResult(outp, [], [], inp, params, grads, radii, local, descent, certs,
                         timings)
        res.summary = _summary_rows(res, i_main)
        rep = _build_report(res, net, consts, i_main)
        (stage / "report.md").write_text(rep.to_markdown(), encoding="utf-8")
        (stage / "report.tex").write_text(rep.to_latex(), encoding="utf-8")
        (stage / "summary.json").write_text(json.dumps(_summary_json(res), indent=2) + "\n",
                                            encoding="utf-8")
        res.files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
        # ---- move into place --------------------------------------------------------
        _check_out(outp, force)
        if not outp.exists():
            os.replace(stage, outp)
        else:
            for name in res.files:
                dst = outp / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / name, dst)
            shutil.rmtree(stage, ignore_errors=True)
        return res
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _nearest(radii: Sequence[float], r: float) -> int:
    return int(np.argmin([abs(math.log(x / r)) for x in radii]))


def _describe(net: Any) -> str:
    return "-".join(map(str, net.widths)) + f" {net.activations[0].name} MLP"


def _certificates(files: dict[str, Path], adv: Callable[[str], None]) -> dict[str, str]:
    """Write a certificate per quantity, then verify each from the written files, as
    ``symlip certify ... --certificate`` and ``symlip verify`` do (cwd = report)."""
    from symlip.bounds.registry import certify, load_context
    from symlip.certificate import (
        load_certificate,
        make_certificate,
        verify_certificate,
        write_certificate,
    )
    from symlip.errors import SymlipError

    m, x, y = files["model"].name, files["data"].name, files["targets"].name
    # the options `symlip certify` records for these runs, in its order
    common = {"model_type": "feedforward", "activation": None, "param": None}
    runs = {
        "input": ({"wrt": "input", **common, "seed": 0}, {}),
        "params": ({"wrt": "params", **common, "radius": MAIN_RADIUS, "method": "local",
                    "seed": 0}, {}),
        "gradient": ({"wrt": "gradient", **common, "radius": MAIN_RADIUS, "loss": "mse",
                      "method": "local", "seed": 0}, {"targets": y}),
    }
    out: dict[str, str] = {}
    Path("certificates").mkdir(exist_ok=True)
    for name, (options, extra) in runs.items():
        cert = f"certificates/{name}.json"
        try:
            ctx = load_context(m, options, x, extra)
            write_certificate(cert, make_certificate(certify(ctx), ctx))
        except (SymlipError, OSError) as exc:
            out[name] = f"not written: {exc}"
            adv(name)
            continue
        try:
            c = load_certificate(cert)
            v = verify_certificate(c, load_context(m, dict(c["options"]), x, extra))
            out[name] = ("verified: " if v.holds else "NOT verified: ") + v.reason
        except (SymlipError, OSError) as exc:
            out[name] = f"not verified: {exc}"
        adv(name)
    return out


def _summary_rows(res: DemoResult, i: int) -> list[list[str]]:
    inp = res.input
    p, g = res.params[i], res.grads[i]
    r = res.radii[i]
    rows = [
        ["input Lipschitz (global)", _up(inp.enclosure), _down(inp.lower_enclosure),
         _g(inp.estimate),
         _g(inp.ratio, 3)],
        [f"input Lipschitz (local, eps={INPUT_RADIUS})",
         _up(res.local_upper), "-", "-", "-"],
        [f"param Lipschitz (r={r:.0e})", _up(p.enclosure), _down(p.lower_enclosure),
         _g(p.estimate),
         _g(p.ratio, 3)],
        [f"gradient Lipschitz (MSE, r={r:.0e})", _up(g.enclosure), _down(g.lower_enclosure),
         _g(g.estimate), _g(g.ratio, 3)],
    ]
    if res.descent:
        d0 = res.descent[0]
        rows.append([f"certified step 1/L_grad (r={MAIN_RADIUS:.0e})", _down(d0["eta"]),
                     "-", "-", "-"])
    return rows


def _summary_json(res: DemoResult) -> dict[str, Any]:
    return {
        "input": res.input.to_dict(),
        "local_input_upper": None if res.local_upper is None
        else res.local_upper.upper_str(),
        "input_radius": INPUT_RADIUS,
        "params": [{"radius": r, "upper": p.enclosure.upper_str(),
                    "lower": None if p.lower_enclosure is None else p.lower_enclosure.lower_str(),
                    "estimate": p.estimate} for r, p in zip(res.radii, res.params, strict=False)],
        "gradient": [{"radius": r, "upper": g.enclosure.upper_str(),
                      "lower": None if g.lower_enclosure is None
                      else g.lower_enclosure.lower_str(),
                      "upper_hull": g.extra["upper_hull"],
                      "estimate": g.estimate} for r, g in zip(res.radii, res.grads, strict=False)],
        "descent": [{**{k: v for k, v in d.items() if not k.startswith("loss")},
                     "loss_before_upper": d["loss_before"].upper_str(),
                     "loss_after_upper": d["loss_after"].upper_str()} for d in res.descent],
        "certificates": res.certificates,
    }


# ------------------------------------------------------------------------------------
# the report text
# ------------------------------------------------------------------------------------


def _build_report(res: DemoResult, net: Any, consts: Any, i_main: int) -> Any:
    from symlip._version import __version__
    from symlip.app.report import Report
    from symlip.bounds import recursion as rec
    from symlip.bounds.input import input_product_derivation

    inp = res.input
    rep = Report("symlip demo report",
                 f"Generated by `symlip demo` (symlip {__version__}). Every number called "
                 "*certified* is the upper (or lower) end of an outward-rounded interval "
                 "enclosure; *sampled* numbers are float64 lower estimates.")
    rep.heading("The model")
    rep.text(f"A {_describe(net)} with {net.n_params} parameters "
             f"(`{MODEL_FILE}`), trained with NumPy by `scripts/train_demo_model.py` on "
             f"{res.params[0].extra.get('n_points', '?')} points $x \\in [-1, 1]^2$ "
             f"(`{DATA_FILE}`) with targets $y = \\sin(\\pi x_1)\\cos(\\pi x_2 / 2)$ plus "
             f"noise (`{TARGETS_FILE}`). All three files are copied into this folder.")
    rep.heading("Summary")
    rep.table(["quantity", "certified upper", "certified lower", "sampled lower",
               "upper/lower"], res.summary)
    rep.text("The gradient-Lipschitz row is the certified mean over the data of the "
             "per-point bounds (the loss is a mean, so its smoothness constant is at most "
             "the mean); the certified step size is $\\eta = 1/L_{grad}$ rounded down.")

    # ---- activation ------------------------------------------------------------------
    rep.heading("1. The activation: certified constants of tanh")
    rows = []
    for key, label in (("S0", "$S_0 = \\sup\\lvert\\sigma\\rvert$"),
                       ("K1", "$K_1 = \\sup\\lvert\\sigma'\\rvert$"),
                       ("K2", "$K_2 = \\sup\\lvert\\sigma''\\rvert$"),
                       ("sigma0", "$s_0 = \\lvert\\sigma(0)\\rvert$")):
        c = getattr(consts, key)
        exact = "-" if c.exact is None else f"${_latex(c.exact)}$"
        rows.append([label, exact, c.enclosure.lower_str(12),
                     "inf" if not c.is_finite else c.enclosure.upper_str(12)])
    rep.table(["constant", "exact value", "enclosure lower", "enclosure upper"], rows)
    rep.figure("activation.png", "tanh, its first and second derivative; dashed lines: "
               "the certified constants S0, K1, K2 (upper ends of the enclosures).")
    if consts.K2.derivation is not None:
        rep.text("How $K_2$ is derived (critical points of $\\sigma''$, limits at "
                 "$\\pm\\infty$, all candidates compared):")
        rep.derivation(consts.K2.derivation, level=4)

    # ---- input -------------------------------------------------------------------------
    rep.heading("2. Input-Lipschitz constant")
    methods = inp.extra.get("methods", {})
    how = ("the verified LipSDP bound, see the LipSDP page of the documentation; the "
           f"product of the per-layer factors below gives {methods['product']['upper']}"
           if inp.extra.get("method") == "lipsdp" else "the product of the per-layer "
           "factors below")
    rep.text(f"Certified upper bound **{_up(inp.enclosure, 8)}** ({how}); certified "
             "lower bound "
             f"**{_down(inp.lower_enclosure, 8)}** (an "
             "interval-evaluated difference quotient at the best point of a Jacobian "
             f"search; sampled estimate {_g(inp.estimate, 8)}); ratio {_g(inp.ratio, 4)}. "
             f"Local bound on the balls $B(x_i, {INPUT_RADIUS})$ around the first "
             f"{LOCAL_CENTRES} data points: "
             f"**{res.local_upper.upper_str(8) if res.local_upper else '-'}**.")
    rep.table(["layer", "certified spectral norm", "certified factor"],
              [[d["name"], _up(d["norm_upper"], 10), _up(d["factor_upper"], 10)]
               for d in inp.per_layer])
    rep.figure("layer_factors.png", "Left: certified spectral norms and per-layer factors "
               "of the product bound. Right: the running product against the lower bounds.")
    rep.derivation(input_product_derivation(net.depth, r"\tanh"), level=3)

    # ---- params ------------------------------------------------------------------------
    rep.heading("3. Parameter- and gradient-Lipschitz constants on balls")
    rep.text("For every radius $r$, the certified Lipschitz constant of "
             "$\\theta \\mapsto f(x;\\theta)$ on the ball $B_r(\\bar\\theta)$ around the "
             "trained parameters (Euclidean norm of the flattened parameter vector, every "
             "data point $x$), and of $\\theta \\mapsto \\nabla_\\theta L(\\theta)$ for the "
             "mean squared error. The bounds grow with $r$: no global bound exists.")
    rows = []
    for r, p, g in zip(res.radii, res.params, res.grads, strict=False):
        rows.append([f"{r:.3g}", _up(p.enclosure), _down(p.lower_enclosure),
                     _g(p.estimate), _up(g.enclosure), _down(g.lower_enclosure),
                     _g(g.estimate)])
    rep.table(["$r$", "param: certified upper", "param: certified lower",
               "param: sampled", "gradient: certified upper", "gradient: certified lower",
               "gradient: sampled"], rows)
    rep.figure("radius_sweep.png", "Certified upper bounds and the best lower bounds "
               "against the radius r of the parameter ball (log-log).", width=1.0)
    rep.derivation(rec.first_order_derivation(None), level=3)
    rep.derivation(rec.second_order_derivation(None, loss="mse"), level=3)

    # ---- descent ---------------------------------------------------------------------
    if res.descent:
        rep.heading("4. Gradient descent with a certified step size")
        rep.text(f"Each step recomputes $L_{{grad}}$ on $B_{{{MAIN_RADIUS:g}}}(\\theta_t)$ "
                 "and takes $\\theta_{t+1} = \\theta_t - \\eta \\nabla L(\\theta_t)$ with "
                 "$\\eta = 1/L_{grad}$. When the step stays in the ball, the descent lemma "
                 "guarantees $L(\\theta_{t+1}) \\le L(\\theta_t) - \\|\\nabla L\\|^2 / "
                 "(2 L_{grad})$. Loss values are certified upper bounds.")
        rows = []
        for d in res.descent:
            rows.append([str(d["step"]), _down(d["eta"]), d["in_ball"],
                         d["loss_before"].upper_str(10), _down(d["guaranteed"], 4),
                         _g(d["actual"], 4)])
        rep.table(["step", "$\\eta$", "in ball", "loss before (certified upper)",
                   "guaranteed decrease", "actual decrease (float)"], rows)

    # ---- reproduce -----------------------------------------------------------------------
    rep.heading("5. Reproduce with the command line")
    r = repr(MAIN_RADIUS)
    rep.text("From this folder:")
    rep.code("\n".join([
        "symlip activation tanh",
        f"symlip norms {MODEL_FILE}",
        f"symlip certify {MODEL_FILE} --wrt input --data {DATA_FILE} --input-radius "
        f"{INPUT_RADIUS}",
        f"symlip certify {MODEL_FILE} --wrt params --data {DATA_FILE} --radius {r}",
        f"symlip certify {MODEL_FILE} --wrt gradient --data {DATA_FILE} --targets "
        f"{TARGETS_FILE} --loss mse --radius {r}",
        f"symlip verify certificates/params.json --model {MODEL_FILE} --data {DATA_FILE}",
        "symlip derive --wrt params --depth 3 --uniform --format markdown",
    ]), "bash")
    if res.certificates:
        rep.text("Certificates written by `symlip certify --certificate` and re-checked "
                 "by `symlip verify`:")
        rep.table(["certificate", "symlip verify says"],
                  [[f"`certificates/{k}.json`", v.replace("|", "/")]
                   for k, v in res.certificates.items()])
    return rep


def _latex(e: Any) -> str:
    import sympy as sp

    return sp.latex(e)
