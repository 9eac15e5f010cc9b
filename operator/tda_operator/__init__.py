"""The TDA Platform Kubernetes operator (kopf).

Modules, from the outside in:

- ``cli``       ``tda-operator run`` / ``tda-operator crds``
- ``handlers``  the kopf handlers (thin: parse, build, apply, report)
- ``reconcile`` the steps they share; ``kube`` the one write path (server-side apply)
- ``builders``  desired children of a TDAJob, pure; ``status`` its status, pure
- ``models``    TDAJob/TDAStream as pydantic models, the source of ``crd`` (the CRD YAML)
- ``contract``  names, paths and exit codes shared with the ``tda-compute`` worker
- ``settings``, ``metrics``, ``local`` (the operator as a ``tda-dev up`` service)
"""

from typing import Any

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "TDAJob",
    "TDAJobSpec",
    "TDAJobStatus",
    "TDAStream",
    "TDAStreamSpec",
]


def __getattr__(name: str) -> Any:
    # Lazy: worker pods import `tda_operator.contract` and should not pay for pydantic.
    if name in __all__:
        from . import models

        return getattr(models, name)
    raise AttributeError(name)
