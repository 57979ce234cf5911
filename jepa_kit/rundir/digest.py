"""Deprecated: moved to ``jepa_kit.checkpoint.digest``; goes in the release after 0.1."""

from __future__ import annotations

import sys
import warnings

from jepa_kit.checkpoint import digest as _moved

warnings.warn(f"{__name__} moved to jepa_kit.checkpoint.digest; the old path goes in the "
              "release after 0.1", DeprecationWarning, stacklevel=2)
# The old name is the new module itself, so attributes set through it (tests' monkeypatching)
# reach the code that runs.
sys.modules[__name__] = _moved
