"""The dashboard in Apache Superset: an import bundle generated from panels.py (bundle.py), and a local
Superset server provisioned with it: process.py (its virtualenv, state folder, start and stop),
client.py (its REST API and the bundle import), server.py (up, down, status: the steps together).

Nothing here imports Superset: the server runs in ``.venv-superset`` and is driven by its CLI and REST API.
"""
