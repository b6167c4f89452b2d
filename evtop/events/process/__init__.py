"""Reading and decoding the broker's events in a second process (``--reader process``).

On a busy cluster a live consumer is CPU-bound: reading the socket, unpacking envelopes,
decoding and validating bodies take about half of each event's time, applying it to the
State the other half. A second process doing the first half lets the two run on two
processors at once. :mod:`.child` is that process, :mod:`.source` the event source
evtop's modes run in its place, and :mod:`.frames` what passes between them.
"""
