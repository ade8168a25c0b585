"""Bound modules, one per quantity (importing this package imports none of them).

* :mod:`symlip.bounds.input` — Lipschitz constants w.r.t. the input.
* :mod:`symlip.bounds.param` — w.r.t. the parameters, on a ball (first order).
* :mod:`symlip.bounds.smooth` — of the loss gradient w.r.t. the parameters (second
  order), certified step sizes.
* :mod:`symlip.bounds.noglobal` — why no global parameter bound exists.
* :mod:`symlip.bounds.recursion` — the symbolic recursions behind param and smooth.
"""
