"""The lake: storage behind a root URL (a folder or s3://bucket/prefix), and its fixed layout."""

from retailflow.lake.storage import Lake

__all__ = ["Lake"]
