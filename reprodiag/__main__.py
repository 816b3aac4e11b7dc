"""`python -m reprodiag`: the same command line as `reprodiag`."""

from reprodiag.cli import console

console()
