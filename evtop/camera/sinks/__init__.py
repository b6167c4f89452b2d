"""Built-in and plugin sinks of ``evtop --sink URL``: where the sink camera's snapshots go.

``base`` is the contract a sink implements, ``registry`` finds the class for a URL's
scheme (``evtop.sinks`` entry points), ``snapshot`` is what sinks are given, and
``spool`` and ``delivery`` get it to them at least once while they fail. One module per
sink: ``sqlite`` and ``postgres`` (the schema they share is in ``sql``), ``jsonl`` and
``prometheus``. Nothing here reads the State: the camera hands over immutable snapshots.
"""
