"""The exit codes every ``stickerbot`` command shares, and the usage answer of a command
given without its subcommand."""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_OBJECT = 3
EXIT_BAD_IMAGE = 4
EXIT_MODEL = 5


def usage(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help to stderr: a command needs a subcommand."""
    parser.print_help(sys.stderr)
    return EXIT_USAGE
