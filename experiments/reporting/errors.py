"""The one error of the report: its message names the file and what is wrong with it."""


class RunTableError(ValueError):
    """A run directory that cannot be turned into a row (or no run directory at all)."""
