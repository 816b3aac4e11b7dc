"""reprodiag."""
