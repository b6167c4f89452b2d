"""Recordings: ``--record`` writes the event stream to JSON lines, ``--replay`` reads it back.

One schema (:mod:`evtop.record.schema`) serves recordings, ``--dump --json`` output and
replay input, so anything evtop printed can be replayed and analysed the same way.
"""
