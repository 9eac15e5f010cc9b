"""`tda-compute`: the worker a TDAJob pod runs."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda-compute", description=__doc__)
    parser.parse_args(argv)
    return 0
