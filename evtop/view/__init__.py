"""View models shared by every renderer: what the screens show, computed from State.

Nothing here imports urwid or blessed (a test enforces it), so the tables, filters and
detail texts are tested as plain data and can feed any front end.
"""
