"""The live full-screen monitor (urwid): the default mode of ``evtop``."""
