"""Make the checkout importable however pytest is started (`pytest`, `python -m pytest`)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _own_lease_records(tmp_path, monkeypatch):
    """The controller's port-lease records of a test live in its own folder, not the user's."""
    from u7s.config import leasestore

    monkeypatch.setattr(leasestore, "STATE_DIR", str(tmp_path / "u7s-state"))
