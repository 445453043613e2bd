"""Errors a user can act on: each names the file, account or field at fault."""


class FragcgeError(Exception):
    """Base class of every error fragcge reports to a user."""


class DatasetError(FragcgeError):
    """A dataset folder is missing a table or column, has unknown codes or breaks an identity."""


class ScenarioError(FragcgeError):
    """A scenario file names an unknown key, region, sector, bloc or instrument, or a bad value."""


class SolveError(FragcgeError):
    """Ipopt did not reach an equilibrium; carries status, iterations and largest residuals."""


class ReportError(FragcgeError):
    """A result folder is missing its manifest or a table, or results cannot be compared."""


class OutputError(FragcgeError):
    """An output folder belongs to someone else, is a file, or cannot be written."""
