"""Test-session settings.

Under CI (``CI`` set, as ``.ci/run`` runs) hypothesis draws are derandomised: the same
examples every run, so a submission's CI cannot fail on a draw its author never saw. The
property tests still explore new draws on every developer run, where a failure found is
pinned as an ``@example``.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
