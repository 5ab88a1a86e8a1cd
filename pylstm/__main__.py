"""Command line: ``python -m pylstm demo`` trains an LSTM on the adding problem."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pylstm",
                                     description="pylstm: a fast LSTM with a C core.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from . import demo
    p = sub.add_parser("demo", help="train an LSTM on the adding problem with NumPy only",
                       description=demo.__doc__.split("\n\n")[0])
    demo.add_arguments(p)
    p.set_defaults(func=demo.main)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
