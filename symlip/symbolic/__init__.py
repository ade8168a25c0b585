"""The symbolic core: SymPy functions symlip adds, formulas (the single source of truth
of every bound), their simplified closed forms and derivations.  Imports only
:mod:`symlip.arith` below it."""
