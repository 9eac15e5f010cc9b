"""`tda-operator`: run the kopf operator that reconciles TDAJob and TDAStream."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda-operator", description=__doc__)
    parser.add_argument("--namespace", action="append", help="watch only this namespace (repeatable)")
    parser.parse_args(argv)
    return 0
