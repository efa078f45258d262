"""The weekly metrics: read a week's raw partitions, validate, compute, reconcile, publish."""
