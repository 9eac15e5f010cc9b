"""The TDA Platform Kubernetes operator (kopf).

Modules, from the outside in:

- ``cli``       ``tda-operator run`` / ``tda-operator crds``
- ``handlers``  the kopf watches (server-side label selectors): fill the cache, queue the TDAJob
- ``cache``     what the watches have seen, per TDAJob; ``workqueue`` one reconcile per key, retried
- ``reconcile`` observe, decide, apply; ``kube`` the one write path (server-side apply), with timeouts
- ``builders``  desired children of a TDAJob, pure; ``status`` its status from the run's records, pure
- ``models``    TDAJob/TDAStream as pydantic models, the source of ``crd`` (the CRD YAML)
- ``settings``, ``metrics``

Names shared with the ``tda-compute`` worker live in the dependency-free ``tda_contract``.
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
    # Lazy: `tda-operator crds` and the tools importing a submodule need not load pydantic first.
    if name in __all__:
        from . import models

        return getattr(models, name)
    raise AttributeError(name)
