"""symlip: verified symbolic derivation of Lipschitz constants of neural networks."""

__version__ = "0.1.0"
