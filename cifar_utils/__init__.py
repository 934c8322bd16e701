"""Helpers for the CIFAR-10 notebook series.

Import the modules you need, for example ``from cifar_utils import data, plotting``.
Importing the package is cheap and changes no global state (no TensorFlow import, no
matplotlib settings).
"""

__version__ = "0.1.0"
