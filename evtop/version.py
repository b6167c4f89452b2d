"""evtop's version, in a module of its own so low layers can name it without the package face."""

__version__ = "0.1.0"
