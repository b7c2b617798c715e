"""The ``tinygrad-conv`` command. Each subcommand lives in ``tinygrad_conv/commands/<name>.py`` and
provides ``add_arguments(parser)`` and ``run(args) -> int``; they are imported only when used, so
``tinygrad-conv --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS = {
    "train": ("tinygrad_conv.commands.train", "train a CNN (LeNet or an autoencoder) on the bundled digits or MNIST"),
    "viz": ("tinygrad_conv.commands.viz", "draw a model's computation graph (forward or backward) to a file"),
    "check": ("tinygrad_conv.commands.check", "check ops' gradients (built-in or from your module)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-conv",
        description="tinygrad_conv: a small autograd framework on NumPy. Train a CNN, draw its "
                    "graph, or check ops' gradients.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "_missing", None):
        print(f"tinygrad-conv {args.command}: not available in this build", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
