"""PyTorch side of symlip (the optional ``torch`` extra): modules to train
Lipschitz-constrained networks, recorders of bounds through training, and optimizers
with certified step sizes. Trained models are exported to symlip model files and
certified by the library; nothing here is itself a certified number.
"""
