"""``workbench``: the analyst's command line (the engine and terminal application come next)."""

from __future__ import annotations

import argparse
import sys

USAGE = """\
workbench — the promotion exchange analyst's workbench

usage:
  workbench run SCENARIO [--set key=value ...] [--out DIR]
  workbench compare SCENARIO --set key=value [...] [--out DIR]
  workbench replay SCENARIO --api URL
  workbench validate SCENARIO

The batch engine and the terminal application are not built yet; meanwhile the
server is available with `promotion-agent serve` (see README.md).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbench", add_help=False)
    parser.add_argument("command", nargs="?")
    parser.add_argument("-h", "--help", action="store_true")
    args, _ = parser.parse_known_args(argv)
    print(USAGE, end="")
    if args.command and not args.help:
        print(f"workbench: '{args.command}' is not available yet.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
