"""The nightly export: source tables -> the lake's raw zone, one partition per day."""

from retailflow.export.exporter import ExportResult, export_days

__all__ = ["ExportResult", "export_days"]
