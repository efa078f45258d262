"""The dashboard in Apache Superset: an import bundle generated from panels.py (bundle.py), and a local
Superset server provisioned with it (server.py, run from its own virtualenv made by `make superset`).

Nothing here imports Superset: the server runs in ``.venv-superset`` and is driven by its CLI and REST API.
"""

from retailflow.dashboard.superset.bundle import build_bundle

__all__ = ["build_bundle"]
