"""pytest plugin for the notebook checks of `make test-notebooks`: nbval ignores stderr.

Loaded with ``python -m pytest -p tests.nbval_plugin --nbval-lax ... build/nbval/*.ipynb``
(a conftest.py in tests/ is not loaded when pytest collects notebooks under build/).
Kernels send TensorFlow's C++ log and Python warnings to stderr, which differs between the
committed full run and a quick run, and a sanitize rule cannot remove a stream present on
one side only (nbval issue #88), so stderr outputs are never compared.
"""

from __future__ import annotations

import pytest


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Add ``stderr`` to the output keys nbval skips when it compares a notebook's cells."""
    if type(collector).__name__ == "IPyNbFile":
        collector.skip_compare = (*collector.skip_compare, "stderr")
