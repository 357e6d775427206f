"""The model=auto task classifier: features, the shipped model, and beside them the corpus builder
and the training script (`make train-router`, `make eval-router`; see docs/auto-routing.md).

Serving imports `model` and `features` only (numpy); `corpus` and `train` are for training and need
the `dev` extra (scikit-learn).
"""
