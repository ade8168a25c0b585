"""Activation functions: the registry (:mod:`.registry`), their certified constants
(:mod:`.constants`, rigorous suprema in :mod:`.sup`) and learnable linear splines
(:mod:`.spline`)."""
