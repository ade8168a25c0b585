r"""A small report writer: one document, rendered as Markdown and as standalone LaTeX.

A :class:`Report` is an ordered list of blocks (headings, paragraphs, display maths,
tables, figures, code, :class:`~symlip.derivation.Derivation` objects).  It renders to

* Markdown (:meth:`Report.to_markdown`): ``$...$`` and ``$$...$$`` maths, readable on
  GitHub and in mkdocs with MathJax (``pymdownx.arithmatex`` in generic mode);
* LaTeX (:meth:`Report.to_latex`): a complete ``article`` that compiles with
  ``pdflatex`` (packages: amsmath, amssymb, mathtools, geometry, graphicx, booktabs,
  hyperref).

Paragraph text uses a tiny Markdown subset that both renderings understand:
``$inline maths$``, ``**bold**``, ```code``` and ``[text](url)`` links.  The output is
deterministic (no timestamps), so generated pages can be compared byte for byte.

The module also holds the plots of the demo report (:func:`plot_radius_sweep`,
:func:`plot_layer_factors`, :func:`plot_activation`), drawn with matplotlib's
non-interactive Agg backend.

Examples:
    >>> r = Report("A bound")
    >>> _ = r.text("The constant is $K_1 = 1$ (**certified**).")
    >>> _ = r.table(["layer", "factor"], [["0", "2.5"]])
    >>> print(r.to_markdown().splitlines()[0])
    # A bound
    >>> "\\textbf{certified}" in r.to_latex()
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from symlip.derivation import Derivation

__all__ = [
    "Report",
    "md_to_latex",
    "plot_radius_sweep",
    "plot_layer_factors",
    "plot_activation",
]

_LATEX_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage{amsmath,amssymb,mathtools}
\usepackage[margin=1.8cm]{geometry}
\usepackage{graphicx}
\usepackage{booktabs}
\usepackage{hyperref}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6em}
\allowdisplaybreaks
"""

_TOKEN = re.compile(
    r"(?P<math>\$[^$]+\$)|(?P<code>`[^`]+`)|(?P<bold>\*\*[^*]+\*\*)"
    r"|(?P<link>\[[^\]]+\]\([^)\s]+\))"
)
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "$": r"\$",
}


def _escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def md_to_latex(text: str) -> str:
    r"""Convert the Markdown subset of report paragraphs to LaTeX.

    ``$...$`` spans pass through unchanged, ``**b**`` becomes ``\textbf{b}``,
    ```c``` becomes ``\texttt{c}``, ``[t](http...)`` becomes ``\href``; a relative link
    keeps only its text; everything else is escaped.

    Examples:
        >>> md_to_latex("a_b $x_1$ **c** `d_e` [docs](api.md)")
        'a\\_b $x_1$ \\textbf{c} \\texttt{d\\_e} docs'
    """
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(_escape(text[pos:m.start()]))
        tok = m.group(0)
        if m.group("math"):
            out.append(tok)
        elif m.group("code"):
            out.append(rf"\texttt{{{_escape(tok[1:-1])}}}")
        elif m.group("bold"):
            out.append(rf"\textbf{{{md_to_latex(tok[2:-2])}}}")
        else:
            label, url = tok[1:].split("](", 1)
            url = url[:-1]
            if url.startswith(("http://", "https://")):
                out.append(rf"\href{{{url}}}{{{md_to_latex(label)}}}")
            else:
                out.append(md_to_latex(label))
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


@dataclass
class Report:
    """An ordered document of blocks with Markdown and LaTeX renderings.

    Args:
        title: the document title (``#`` heading / LaTeX title).
        preamble_note: an optional line under the title (e.g. how it was generated).

    Every builder method returns ``self`` so calls can be chained.
    """

    title: str
    preamble_note: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    # -- building ----------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> Report:
        """A section heading (level 2 = ``##`` = LaTeX ``\\section``)."""
        if not 2 <= level <= 5:
            raise ValueError(f"{level=} must be between 2 and 5")
        self.blocks.append(("heading", (text, level)))
        return self

    def text(self, paragraph: str) -> Report:
        """A paragraph in the Markdown subset (see :func:`md_to_latex`)."""
        self.blocks.append(("text", paragraph))
        return self

    def bullets(self, items: Sequence[str]) -> Report:
        """A bullet list (each item in the Markdown subset)."""
        self.blocks.append(("bullets", list(items)))
        return self

    def math(self, latex: str) -> Report:
        """Display maths (LaTeX without delimiters; ``aligned`` blocks are fine)."""
        self.blocks.append(("math", latex.strip()))
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: str = "") -> Report:
        """A table; cells are strings in the Markdown subset.

        ``\\|`` (a norm) is rewritten as ``\\Vert``; any other ``|`` is refused
        (it would split a Markdown table cell): write ``\\vert`` in maths.
        """
        for row in rows:
            if len(row) != len(headers):
                raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
        cells = [[str(c).replace("\\|", "\\Vert ") for c in row] for row in rows]
        headers = [str(h).replace("\\|", "\\Vert ") for h in headers]
        for c in [*headers, *(x for row in cells for x in row)]:
            if "|" in c:
                raise ValueError(f"table cell {c!r} contains '|' (use \\vert in maths)")
        self.blocks.append(("table", (list(headers), cells, caption)))
        return self

    def figure(self, path: str, caption: str, width: float = 0.8) -> Report:
        """An image (path relative to the document) with a caption."""
        self.blocks.append(("figure", (path, caption, width)))
        return self

    def code(self, text: str, lang: str = "") -> Report:
        """A verbatim block (shell commands, program output)."""
        self.blocks.append(("code", (text.rstrip("\n"), lang)))
        return self

    def derivation(self, d: Derivation, level: int = 3) -> Report:
        """A derivation, rendered by :meth:`Derivation.to_markdown` / ``to_latex``."""
        self.blocks.append(("derivation", (d, level)))
        return self

    def raw(self, markdown: str, latex: str) -> Report:
        """Format-specific text (used sparingly, e.g. links to other pages)."""
        self.blocks.append(("raw", (markdown, latex)))
        return self

    # -- rendering ---------------------------------------------------------------------
    def to_markdown(self) -> str:
        """The report as Markdown (ends with one newline)."""
        parts = [f"# {self.title}"]
        if self.preamble_note:
            parts.append(self.preamble_note)
        for kind, val in self.blocks:
            if kind == "heading":
                text, level = val
                parts.append(f"{'#' * level} {text}")
            elif kind == "text":
                parts.append(val)
            elif kind == "bullets":
                parts.append("\n".join(f"- {it}" for it in val))
            elif kind == "math":
                parts.append(f"$$\n{val}\n$$")
            elif kind == "table":
                headers, cells, caption = val
                lines = ["| " + " | ".join(headers) + " |",
                         "|" + "|".join(["---"] * len(headers)) + "|"]
                lines += ["| " + " | ".join(row) + " |" for row in cells]
                if caption:
                    parts.append(f"*{caption}*")
                parts.append("\n".join(lines))
            elif kind == "figure":
                path, caption, _ = val
                parts.append(f"![{caption}]({path})\n\n*{caption}*")
            elif kind == "code":
                text, lang = val
                parts.append(f"```{lang}\n{text}\n```")
            elif kind == "derivation":
                d, level = val
                parts.append(d.to_markdown(heading=level))
            elif kind == "raw":
                parts.append(val[0])
        return "\n\n".join(p for p in parts if p) + "\n"

    def to_latex(self) -> str:
        """The report as a standalone LaTeX ``article`` (compiles with pdflatex)."""
        body: list[str] = []
        if self.preamble_note:
            body.append(md_to_latex(self.preamble_note))
        cmd = {2: "section", 3: "subsection", 4: "subsubsection", 5: "paragraph"}
        for kind, val in self.blocks:
            if kind == "heading":
                text, level = val
                body.append(rf"\{cmd[level]}*{{{md_to_latex(text)}}}")
            elif kind == "text":
                body.append(md_to_latex(val))
            elif kind == "bullets":
                items = "\n".join(rf"  \item {md_to_latex(it)}" for it in val)
                body.append("\\begin{itemize}\n" + items + "\n\\end{itemize}")
            elif kind == "math":
                body.append("\\[\n" + val + "\n\\]")
            elif kind == "table":
                headers, cells, caption = val
                longest = [max(len(str(r[i])) for r in [headers, *cells])
                           for i in range(len(headers))]
                share = 0.9 / max(1, sum(1 for n in longest if n > 40))
                spec = "".join(f"p{{{share:.2f}\\linewidth}}" if n > 40 else "l"
                               for n in longest)
                rows = [" & ".join(md_to_latex(h) for h in headers) + r" \\ \midrule"]
                rows += [" & ".join(md_to_latex(c) for c in row) + r" \\" for row in cells]
                tab = ("\\begin{center}\n\\begin{tabular}{" + spec + "}\n\\toprule\n"
                       + "\n".join(rows) + "\n\\bottomrule\n\\end{tabular}\n\\end{center}")
                if caption:
                    tab = md_to_latex(caption) + "\n" + tab
                body.append(tab)
            elif kind == "figure":
                path, caption, width = val
                body.append("\\begin{figure}[ht]\n\\centering\n"
                            rf"\includegraphics[width={width}\linewidth]{{{path}}}" "\n"
                            rf"\caption{{{md_to_latex(caption)}}}" "\n\\end{figure}")
            elif kind == "code":
                text, _ = val
                body.append("{\\small\n\\begin{verbatim}\n" + text + "\n\\end{verbatim}\n}")
            elif kind == "derivation":
                d, _ = val
                body.append("{\\small\n" + d.to_latex() + "\n}")
            elif kind == "raw":
                body.append(val[1])
        return (_LATEX_PREAMBLE + f"\\title{{{md_to_latex(self.title)}}}\n\\date{{}}\n"
                "\\begin{document}\n\\maketitle\n\n" + "\n\n".join(body)
                + "\n\n\\end{document}\n")


# ------------------------------------------------------------------------------------
# plots (matplotlib, Agg backend, deterministic file contents apart from the PNG library)
# ------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Any) -> None:
    # no creation time or software version in the PNG's metadata
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Software": None})


def plot_radius_sweep(path: Any, radii: Sequence[float], panels: Sequence[dict[str, Any]],
                      title: str = "") -> None:
    """Certified upper bounds and best lower bounds against the radius, log-log.

    Args:
        path: output PNG.
        radii: the radii ``r`` (all > 0).
        panels: one dict per subplot with keys ``"title"``, ``"ylabel"``, ``"upper"``
            (certified upper bounds), and optional ``"lower"`` (certified lower bounds,
            ``None`` entries skipped) and ``"estimate"`` (sampled lower estimates).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.2), squeeze=False)
    for ax, p in zip(axes[0], panels, strict=False):
        ax.loglog(radii, p["upper"], "o-", color="C3", label="certified upper bound")
        alt = p.get("upper_alt")
        if alt is not None:
            ax.loglog(radii, alt[1], "o-", color="C1", ms=4,
                      label=f"certified upper bound ({alt[0]})")
        est = p.get("estimate")
        if est is not None:
            pts = [(r, v) for r, v in zip(radii, est, strict=False) if v is not None and v > 0]
            if pts:
                ax.loglog(*zip(*pts, strict=False), "s--", color="C0", ms=4,
                          label="best sampled lower estimate")
        low = p.get("lower")
        if low is not None:
            pts = [(r, v) for r, v in zip(radii, low, strict=False) if v is not None and v > 0]
            if pts:
                ax.loglog(*zip(*pts, strict=False), "^:", color="C2", ms=5,
                          label="certified lower bound")
        ax.set_xlabel("radius $r$ of the parameter ball $B_r(\\bar\\theta)$")
        ax.set_ylabel(p["ylabel"])
        ax.set_title(p["title"])
        ax.grid(True, which="major", alpha=0.4)
        ax.grid(True, which="minor", alpha=0.12)
        ax.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_layer_factors(path: Any, names: Sequence[str], factors: Sequence[float],
                       local: Sequence[float] | None, product: float,
                       local_product: float | None, lower: float | None,
                       estimate: float | None, local_label: str = "local",
                       title: str = "") -> None:
    """Per-layer factors of the input-Lipschitz product bound and their running product.

    Args:
        names: layer labels.
        factors: certified global factors $K_{1} \\|W_k\\|_2$ (read-out: $\\|W_N\\|_2$).
        local: certified local factors $\\|D_k W_k\\|_2$ on an input ball (or ``None``).
        product: the certified global product bound.
        local_product: the certified local bound (or ``None``; below the local product
            when the interval-Jacobian term $J_{loc}$ is smaller).
        lower: certified lower bound of the Lipschitz constant (or ``None``).
        estimate: sampled lower estimate (or ``None``).
        local_label: legend text of the local factors.
    """
    plt = _pyplot()
    import numpy as np
    from matplotlib.ticker import ScalarFormatter

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4),
                                   gridspec_kw={"width_ratios": [3, 2]})
    xs = np.arange(len(names))
    w = 0.36 if local is not None else 0.6
    off = w / 2 if local is not None else 0.0
    ax1.bar(xs - off, factors, width=w, color="C3",
            label="global factor $K_1\\|W_k\\|_2$ (read-out: $\\|W_N\\|_2$)")
    for x, f in zip(xs, factors, strict=False):
        ax1.annotate(f"{f:.3g}", (x - off, f), ha="center", va="bottom", fontsize=8)
    if local is not None:
        ax1.bar(xs + off, local, width=w, color="C1", label=local_label)
        for x, f in zip(xs, local, strict=False):
            ax1.annotate(f"{f:.3g}", (x + off, f), ha="center", va="bottom", fontsize=8)
    ax1.set_xticks(xs, list(names))
    ax1.set_ylabel("per-layer factor (certified upper bound)")
    ax1.set_title("contribution of each layer")
    ax1.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax1.legend(fontsize=8, loc="upper left")
    top = max([*factors, *(local or [])])
    ax1.set_ylim(0, top * 1.35)
    ax1.grid(True, axis="y", alpha=0.3)
    cum = np.cumprod(factors)
    ax2.semilogy(xs, cum, "o-", color="C3", label=f"global product = {product:.4g}")
    if local is not None:
        ax2.semilogy(xs, np.cumprod(local), "s-", color="C1", label="local product of norms")
    if local_product is not None:
        ax2.axhline(local_product, color="C1", ls="-.",
                    label=f"certified local bound {local_product:.4g}")
    if estimate is not None:
        ax2.axhline(estimate, color="C0", ls="--", label=f"sampled lower estimate {estimate:.4g}")
    if lower is not None:
        ax2.axhline(lower, color="C2", ls=":", lw=2, label=f"certified lower bound {lower:.4g}")
    ax2.set_xticks(xs, [f"after {n.split()[0]} {n.split()[1]}" if len(n.split()) > 1 else n
                        for n in names])
    ax2.yaxis.set_major_formatter(ScalarFormatter())
    ax2.yaxis.set_minor_formatter(ScalarFormatter())
    ax2.tick_params(axis="y", which="minor", labelsize=7)
    ax2.set_ylabel("running product (log scale)")
    ax2.set_title("product bound vs lower bounds")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8, loc="upper left")
    ylo, yhi = ax2.get_ylim()
    ax2.set_ylim(ylo, yhi * 2.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


_MATHTEXT_OK = re.compile(r"^(?:[^\\]|\\(?:frac|sqrt|pi)(?![a-zA-Z]))*$")


def plot_activation(path: Any, act: Any, lo: float = -4.0, hi: float = 4.0,
                    title: str = "") -> None:
    """The activation, its first and second derivative, and its certified constants.

    Dashed lines mark $\\pm S_0$ (on $\\sigma$), $\\pm K_1$ (on $\\sigma'$) and
    $\\pm K_2$ (on $\\sigma''$) when finite (upper ends of the certified enclosures);
    a dot marks where the sampled curve comes closest to the constant.
    """
    plt = _pyplot()
    import numpy as np
    import sympy as sp

    z = np.linspace(lo, hi, 1601)
    c = act.constants
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.0))
    from symlip.errors import NotSmoothError

    try:
        d2 = act.d2sigma(z)
    except NotSmoothError:  # sigma' jumps: no second derivative to draw
        d2 = None
    rows = [
        (axes[0], act.sigma(z), "$\\sigma(z)$", c.S0, "S_0 = \\sup|\\sigma|", "C0"),
        (axes[1], act.dsigma(z), "$\\sigma'(z)$", c.K1, "K_1 = \\sup|\\sigma'|", "C1"),
        (axes[2], d2, "$\\sigma''(z)$", c.K2, "K_2 = \\mathrm{Lip}(\\sigma')", "C2"),
    ]
    name = getattr(act, "name", "sigma")
    for ax, y, ylabel, const, clabel, color in rows:
        if y is None:
            ax.text(0.5, 0.5, "$\\sigma'$ jumps: no second derivative",
                    transform=ax.transAxes, ha="center", va="center")
            y = np.zeros_like(z)
        else:
            y = np.asarray(y, dtype=float) * np.ones_like(z)
            ax.plot(z, y, color=color, lw=2, label=ylabel)
        m = float(np.max(np.abs(y))) if y.size else 1.0
        if const.is_finite:
            v = const.upper
            ex = ""
            if const.exact is not None:
                tex = sp.latex(const.exact)
                if _MATHTEXT_OK.match(tex) and len(tex) < 40:
                    ex = f" = {tex}"
            up = const.enclosure.upper_str(6)
            if ex == f" = {up}":
                lab = f"${clabel}{ex}$ (certified)"
            else:
                lab = f"${clabel}{ex} \\leq {up}$ (certified)"
            ax.axhline(v, color="k", ls="--", lw=1, label=lab)
            ax.axhline(-v, color="k", ls="--", lw=1)
            i = int(np.argmax(np.abs(y)))
            if v > 0 and abs(y[i]) >= (1 - 1e-4) * v:
                ax.plot([z[i]], [y[i]], "o", color="k", ms=5, label="attained (sampled)")
            m = max(m, v)
        else:
            ax.plot([], [], " ", label=f"${clabel} = \\infty$ ({const.reason or 'unbounded'})"
                    if len(const.reason or "") < 40 else f"${clabel} = \\infty$")
        m = m if m > 0 else 1.0
        ax.set_ylim(-1.15 * m, 2.0 * m)  # headroom for the legend
        ax.set_xlim(lo, hi)
        ax.set_xlabel("$z$")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_title(f"{name}")
    axes[1].set_title("first derivative")
    axes[2].set_title("second derivative")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
