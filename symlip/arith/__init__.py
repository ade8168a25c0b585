"""Certified arithmetic: outward-rounded enclosures, interval arrays, transcendental
kernels, certified norms.  The bottom layer: imports nothing else of symlip except
:mod:`symlip.errors`."""
