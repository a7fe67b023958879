"""Data products of the scheduler as software-defined assets, one module per family."""
