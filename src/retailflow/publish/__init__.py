"""Publishing staged output into the curated zone, one atomic file replacement at a time."""

from retailflow.publish.publisher import Publication, publish

__all__ = ["Publication", "publish"]
