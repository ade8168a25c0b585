"""Teaching derivations: one script per result, each writing a Markdown page (for the
docs, MathJax-ready) and a standalone LaTeX document into ``docs/theory/``.

Regenerate everything with ``python -m derivations`` (or ``python derivations/build.py``).
"""
