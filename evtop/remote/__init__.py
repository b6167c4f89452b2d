"""``evtop control``: the mode that sends one command to workers and prints their replies.

The commands, their validation and the pidbox client live in :mod:`evtop.control`, which
the TUI shares; this package is the command-line front end and the only part that prints.
"""
