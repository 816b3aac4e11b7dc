"""Integrations with the trackers teams already use: read their runs as manifests, write back.

Each tracker's library is imported inside the functions that need it, so importing this package
costs nothing and the extra stays optional (`pip install 'reprodiag[mlflow]'`).
"""

from reprodiag.integrations.mlflow_import import MlflowImport, import_mlflow_run
from reprodiag.integrations.mlflow_log import log_to_mlflow

__all__ = ["MlflowImport", "import_mlflow_run", "log_to_mlflow"]
