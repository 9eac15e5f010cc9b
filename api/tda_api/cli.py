"""`tda-server`: serve the REST facade over TDAJob and TDAStream."""

from __future__ import annotations

import argparse
import logging
import os

from .settings import Settings

APP_FACTORY = "tda_api.app:create_app"


def parse(argv: list[str] | None = None) -> Settings:
    """Command-line flags over ``TDA_API_*`` environment variables over defaults."""
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="tda-server", description=__doc__)
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (default %(default)s)")
    parser.add_argument("--reload", action="store_true", default=defaults.reload,
                        help="restart on code changes (development)")
    parser.add_argument("--kubeconfig", default=defaults.kubeconfig,
                        help="kubeconfig of the facade's own identity (default: in-cluster config)")
    args = parser.parse_args(argv)
    return defaults.model_copy(update={"host": args.host, "port": args.port, "reload": args.reload,
                                       "kubeconfig": args.kubeconfig})


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    settings = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.reload:
        # The reloader imports the app anew in a child process: hand it the settings through the environment.
        os.environ.update({f"TDA_API_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v is not None})
        uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port, reload=True,
                    reload_dirs=[os.path.dirname(os.path.dirname(__file__))])
        return 0
    from .app import create_app

    # access_log off: request lines carry paths and queries, which are caller input.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
