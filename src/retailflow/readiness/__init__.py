"""The readiness scan: notices when a day's raw partition is complete and triggers its run once."""

from retailflow.readiness.scan import ScanOutcome, scan_day

__all__ = ["ScanOutcome", "scan_day"]
