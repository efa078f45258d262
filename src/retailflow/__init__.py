"""retailflow: weekly store x product sales and inventory metrics from a retailer's nightly export.

The package follows the data's path: ``source`` (the transactional database and its generator) ->
``export`` (the nightly dump to the lake's raw zone) -> ``lake`` (storage, the raw-zone contract and the
lake's own records) -> ``readiness`` (the scan that triggers a run once a day is complete) ->
``transform`` (the SQL plan, its engines and checks) -> ``publish`` -> ``catalog`` -> ``dashboard``.
``pipeline`` runs transform -> publish -> catalog as stages an orchestrator can call; ``cli`` is the
command line over all of them; ``config`` and ``tables`` are the one settings object and the contract.
"""

__version__ = "0.1.0"
