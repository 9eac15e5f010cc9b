"""`python -m tda_dev.node_agent`: how `tda-dev up` runs the agent."""

from .cli import main

if __name__ == "__main__":
    main()
