"""``forcelab compact FILE [-o OUT.h5]``: rewrite a closed session file in the compact layout.

Lossless: the copy is read back and compared value by value with the original before it
replaces it (or, with ``-o``, is kept beside it). Exit status 0 on success, 2 when the file is
not a closed session or cannot be rewritten (it is then left unchanged).
"""

from __future__ import annotations

import argparse

HELP = "Rewrite a closed session file losslessly in the compact layout (smaller, same data)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab compact``."""
    parser.add_argument("path", metavar="FILE", help="forcelab session file (.h5), closed")
    parser.add_argument("-o", "--output", metavar="OUT.h5",
                        help="write the compact copy here and leave FILE as it is")


def run(args: argparse.Namespace) -> int:
    """Run ``forcelab compact``; returns the exit status."""
    import sys
    from pathlib import Path

    from forcelab.store.compact import compact_session

    if not Path(args.path).exists():
        raise FileNotFoundError(2, "No such file", args.path)
    r = compact_session(args.path, args.output)
    kinds = ", ".join(f"{n}: {s['n_samples']} samples{' as raw counts' if s['counts'] else ''}"
                      for n, s in r["streams"].items())
    print(f"{r['path']}: {r['bytes_before'] / 1e6:.2f} MB -> {r['bytes_after'] / 1e6:.2f} MB "
          f"({kinds}); every value read back identical", file=sys.stderr)
    return 0
