"""`tda-compute`, the pod worker of a TDAJob: read its datasets, compute with tda_core, record results.

Modules: ``compute`` (the run and the CLI), ``formats`` (bytes -> arrays), ``sources``
(file://, https://, s3:// under the platform's limits), ``manifest`` (the run's fixed
dataset list), ``cluster`` (the pod's own API calls), ``results`` (documents and archives).
"""

from .formats import Dataset, InvalidInput, TransientError
from .sources import Limits, Sources

__all__ = ["Dataset", "InvalidInput", "Limits", "Sources", "TransientError"]
