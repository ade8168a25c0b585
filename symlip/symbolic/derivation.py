r"""Derivations: a bound's proof as a sequence of justified steps.

A :class:`Derivation` is an ordered list of :class:`Step` objects.  Each step is a
relation ``lhs REL rhs`` between SymPy expressions (or raw LaTeX where SymPy has no
notation, e.g. operator norms) and the lemma that justifies it.  A step with no
``lhs`` continues the chain of the previous step (``&\le \dots``).

Renderings: :meth:`Derivation.to_latex` (an ``align*`` block with ``\text{}``
justifications), :meth:`Derivation.to_markdown` (``$$`` blocks with ``aligned``,
readable on GitHub and in mkdocs with MathJax), :meth:`Derivation.to_text`, and
``_repr_latex_`` for notebooks.

Examples:
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> d = Derivation("Square")
    >>> _ = d.step(x**2, "<=", 1, "|x| <= 1", )
    >>> print(d.to_text())
    Square
      x**2 <= 1    [|x| <= 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import sympy as sp

__all__ = ["Derivation", "Step", "Tex", "LATEX_PREAMBLE", "latex_document"]

#: The preamble every LaTeX fragment symlip prints needs (``derive --format latex``,
#: ``certify --latex``, ``activation --latex``): ``amsmath`` (``align*``, ``\text``,
#: ``\tfrac``, ``\operatorname``), ``amssymb`` (``\mathbb``) and ``mathtools``
#: (``\coloneqq`` of ``:=`` steps).  ``--standalone`` prints it around the fragment.
LATEX_PREAMBLE = (
    "\\documentclass{article}\n\\usepackage{amsmath,amssymb,mathtools}\n"
    "\\usepackage[margin=2cm]{geometry}\n\\allowdisplaybreaks\n"
)


def latex_document(body: str) -> str:
    """``body`` (LaTeX fragments of symlip) as a complete document that compiles with
    pdflatex: :data:`LATEX_PREAMBLE`, ``\\begin{document}``, the body, ``\\end{document}``."""
    return LATEX_PREAMBLE + "\\begin{document}\n" + body.rstrip("\n") + "\n\\end{document}\n"


class Tex(str):
    """Raw LaTeX for a side of a step that SymPy cannot express (e.g. ``\\|W\\|_2``)."""


Side = Union[sp.Basic, Tex, str, int, float, None]

_REL_LATEX = {
    "=": "=",
    "<=": r"\le",
    ">=": r"\ge",
    "<": "<",
    ">": ">",
    ":=": r"\coloneqq",
    "in": r"\in",
    "->": r"\to",
    "=>": r"\implies",
    "~": r"\sim",
}
_REL_TEXT = {":=": ":=", "in": "in", "->": "->", "=>": "=>", "~": "~"}


def _latex(side: Side, subs: Mapping | None = None) -> str:
    if side is None:
        return ""
    if isinstance(side, Tex):
        return str(side)
    if isinstance(side, str):
        return rf"\text{{{side}}}"
    e = sp.sympify(side)
    if subs:
        e = e.subs(subs)
    return sp.latex(e)


def _text(side: Side, subs: Mapping | None = None) -> str:
    if side is None:
        return ""
    if isinstance(side, str):
        return str(side)
    e = sp.sympify(side)
    if subs:
        e = e.subs(subs)
    return sp.sstr(e)


_TEXT_SPECIAL = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
    "{": r"\{", "}": r"\}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
}


def _escape_text(s: str) -> str:
    """Plain text for LaTeX text mode: every special character printed as itself."""
    return "".join(_TEXT_SPECIAL.get(ch, ch) for ch in s)


#: justifications longer than this (in visible characters, a maths span counting half
#: its source length) are set in a line-breaking box in LaTeX documents
_WRAP_CHARS = 30
#: width of that box; the equation columns keep the rest of the line
_WRAP_WIDTH = r"0.31\linewidth"


def _visible_length(why: str) -> int:
    parts = why.split("$")
    return sum(len(p) // 2 if i % 2 else len(p) for i, p in enumerate(parts))


def _justification_latex(why: str, wrap: bool = False) -> str:
    r"""Render a justification: plain text in ``\text{}``, ``$...$`` spans as maths.

    With ``wrap`` (LaTeX documents, compiled by pdflatex) a justification longer than
    ``_WRAP_CHARS`` visible characters is set ragged-right in
    ``\parbox[t]{0.31\linewidth}{...}`` so it breaks into lines instead of running
    past the margin.  MathJax (Markdown pages, notebooks) has no ``\parbox``, so those
    renderings keep ``\text{}``.
    """
    parts = why.split("$")
    if wrap and _visible_length(why) > _WRAP_CHARS:
        body = "".join(f"${p}$" if i % 2 else _escape_text(p)
                       for i, p in enumerate(parts) if p)
        return rf"\parbox[t]{{{_WRAP_WIDTH}}}{{\raggedright {body}}}"
    out = []
    for i, part in enumerate(parts):
        if not part:
            continue
        out.append(part if i % 2 else rf"\text{{{_escape_text(part)}}}")
    return "".join(out)


@dataclass(frozen=True)
class Step:
    """One justified relation ``lhs rel rhs``.

    Attributes:
        lhs: left side; ``None`` continues the previous step's chain.
        rel: one of ``= <= >= < > := in -> => ~``.
        rhs: right side.
        why: the lemma or reason (plain text; ``$...$`` spans are LaTeX).
    """

    lhs: Side
    rel: str
    rhs: Side
    why: str = ""

    def __post_init__(self) -> None:
        if self.rel not in _REL_LATEX:
            raise ValueError(f"rel={self.rel!r} must be one of {sorted(_REL_LATEX)}")

    def latex_row(self, subs: Mapping | None = None, wrap: bool = False) -> str:
        """The row ``lhs &rel rhs && why`` of an ``align``/``aligned`` block.

        ``wrap=True`` breaks a long justification into lines (``\\parbox``, pdflatex
        only; see :func:`_justification_latex`).
        """
        lhs = _latex(self.lhs, subs)
        rhs = _latex(self.rhs, subs)
        why = rf" && {_justification_latex(self.why, wrap)}" if self.why else ""
        return rf"{lhs} &{_REL_LATEX[self.rel]} {rhs}{why}"

    def text_row(self, subs: Mapping | None = None) -> str:
        rel = _REL_TEXT.get(self.rel, self.rel)
        lhs = _text(self.lhs, subs) if self.lhs is not None else "   "
        why = f"    [{self.why}]" if self.why else ""
        return f"{lhs} {rel} {_text(self.rhs, subs)}{why}"


@dataclass
class Derivation:
    """A titled sequence of steps, possibly with hypotheses and sub-derivations.

    Build one with :meth:`step` (chainable) and :meth:`section`; render it with
    :meth:`to_latex`, :meth:`to_markdown` or :meth:`to_text`.
    """

    title: str
    steps: list[Step] = field(default_factory=list)
    hypotheses: list[str] = field(default_factory=list)
    sections: list[Derivation] = field(default_factory=list)
    conclusion: str = ""

    # -- building -------------------------------------------------------------------
    def step(self, lhs: Side, rel: str, rhs: Side, why: str = "") -> Derivation:
        """Append a step ``lhs rel rhs`` justified by ``why``; returns ``self``."""
        self.steps.append(Step(lhs, rel, rhs, why))
        return self

    def then(self, rel: str, rhs: Side, why: str = "") -> Derivation:
        """Continue the previous step's chain: ``... rel rhs``."""
        return self.step(None, rel, rhs, why)

    def assume(self, hypothesis: str) -> Derivation:
        """Add a hypothesis (plain text, ``$...$`` for maths)."""
        self.hypotheses.append(hypothesis)
        return self

    def section(self, sub: Derivation) -> Derivation:
        """Append a sub-derivation (rendered as its own titled block)."""
        self.sections.append(sub)
        return self

    def conclude(self, text: str) -> Derivation:
        self.conclusion = text
        return self

    def __iter__(self) -> Iterable[Step]:
        return iter(self.all_steps())

    def all_steps(self) -> list[Step]:
        out = list(self.steps)
        for s in self.sections:
            out.extend(s.all_steps())
        return out

    def __len__(self) -> int:
        return len(self.all_steps())

    # -- rendering ------------------------------------------------------------------
    def _align_body(self, subs: Mapping | None, wrap: bool = False) -> str:
        return " \\\\\n".join(s.latex_row(subs, wrap) for s in self.steps)

    def to_latex(self, subs: Mapping | None = None, standalone: bool = False) -> str:
        """LaTeX for pdflatex: hypotheses as an itemize list, steps as an ``align*`` block.

        Long justifications are set in a ragged-right ``\\parbox`` so they break into
        lines within the margin (:meth:`to_markdown` keeps ``\\text{}`` for MathJax).

        Args:
            subs: optional substitution of numbers for symbols (a worked example).
            standalone: wrap in a compilable ``article`` document.
        """
        parts: list[str] = []
        level = r"\paragraph" if not standalone else r"\section*"
        parts.append(rf"{level}{{{_escape_text(self.title)}}}")
        if self.hypotheses:
            items = "\n".join(rf"  \item {_hyp_latex(h)}" for h in self.hypotheses)
            parts.append("Hypotheses:\n\\begin{itemize}\n" + items + "\n\\end{itemize}")
        if self.steps:
            parts.append("\\begin{align*}\n" + self._align_body(subs, wrap=True)
                         + "\n\\end{align*}")
        for sec in self.sections:
            parts.append(sec.to_latex(subs))
        if self.conclusion:
            parts.append(_hyp_latex(self.conclusion))
        body = "\n\n".join(parts)
        if not standalone:
            return body
        return latex_document(body)

    def to_markdown(self, subs: Mapping | None = None, heading: int = 3) -> str:
        """Markdown with ``$$\\begin{aligned}...\\end{aligned}$$`` blocks."""
        parts = [f"{'#' * heading} {self.title}"]
        if self.hypotheses:
            parts.append("\n".join(f"- {h}" for h in self.hypotheses))
        if self.steps:
            parts.append("$$\n\\begin{aligned}\n" + self._align_body(subs) + "\n\\end{aligned}\n$$")
        for sec in self.sections:
            parts.append(sec.to_markdown(subs, heading=min(heading + 1, 6)))
        if self.conclusion:
            parts.append(self.conclusion)
        return "\n\n".join(parts)

    def to_text(self, subs: Mapping | None = None, indent: int = 0) -> str:
        """Plain text, one step a line, justification in brackets."""
        pad = " " * indent
        lines = [pad + self.title]
        for h in self.hypotheses:
            lines.append(f"{pad}  assume: {h}")
        lines.extend(f"{pad}  {s.text_row(subs)}" for s in self.steps)
        for sec in self.sections:
            lines.append(sec.to_text(subs, indent + 2))
        if self.conclusion:
            lines.append(f"{pad}  => {self.conclusion}")
        return "\n".join(lines)

    def render(self, fmt: str = "text", subs: Mapping | None = None) -> str:
        """Render as ``"latex"``, ``"markdown"`` or ``"text"``."""
        if fmt == "latex":
            return self.to_latex(subs)
        if fmt == "markdown":
            return self.to_markdown(subs)
        if fmt == "text":
            return self.to_text(subs)
        raise ValueError(f"{fmt=} must be one of 'latex', 'markdown', 'text'")

    def _repr_latex_(self) -> str:
        rows = " \\\\\n".join(s.latex_row() for s in self.all_steps())
        return "$$\\begin{aligned}\n" + rows + "\n\\end{aligned}$$"

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "hypotheses": list(self.hypotheses),
            "steps": [
                {"lhs": _latex(s.lhs), "rel": s.rel, "rhs": _latex(s.rhs), "why": s.why}
                for s in self.steps
            ],
            "sections": [s.to_dict() for s in self.sections],
            "conclusion": self.conclusion,
        }


def _hyp_latex(h: str) -> str:
    parts = h.split("$")
    return "".join(f"${p}$" if i % 2 else _escape_text(p) for i, p in enumerate(parts))
