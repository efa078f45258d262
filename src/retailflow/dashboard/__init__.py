"""The dashboards: panels defined once (panels.py), rendered as a self-contained HTML page (html.py) or
provisioned into Superset (superset/)."""
