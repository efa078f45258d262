"""retailflow: weekly store x product sales and inventory metrics from a retailer's nightly export.

The package follows the data's path: ``source`` (the transactional database and its generator) ->
``export`` (the nightly dump to the lake's raw zone) -> ``lake`` (storage and the raw-zone contract) ->
``readiness`` (the scan that triggers a run once a day is complete) -> ``transform`` (the weekly
metrics) -> ``publish`` -> ``catalog`` -> ``dashboard``.
"""

__version__ = "0.1.0"
