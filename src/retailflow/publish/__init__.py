"""Publishing staged output into the curated zone, one atomic file replacement at a time."""

from retailflow.publish.publication import build_publication
from retailflow.publish.publisher import Publication, StagedFile, publish

__all__ = ["Publication", "StagedFile", "build_publication", "publish"]
