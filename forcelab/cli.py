"""The ``forcelab`` command line: one console script, one subcommand per job.

Each subcommand lives in ``forcelab/commands/NAME.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import only argparse at
module level and everything heavy inside ``run``, so ``forcelab --help`` stays instant.
User mistakes (ForcelabError, DeviceError, a missing file) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from forcelab import __version__

# Order in which subcommands are listed; commands not named here follow alphabetically.
ORDER = (
    "demo",
    "analyze",
    "record",
    "console",
    "devices",
    "simulate",
    "import",
    "info",
    "check",
    "compact",
    "export",
    "report",
)


def _command_modules() -> dict:
    import forcelab.commands as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {n: importlib.import_module(f"forcelab.commands.{n}") for n in names}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``forcelab CMD: error: ...``) and
    exit status 2, instead of argparse's multi-line usage dump."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        text = " ".join(message.split())
        if "expected one argument" in text:
            text += " (a value that starts with '-' is written as --option=-value)"
        self.exit(2, f"{self.prog}: error: {text}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = OneLineParser(
        prog="forcelab",
        description="Force-plate and smart-insole session controller.",
    )
    parser.add_argument("--version", action="version", version=f"forcelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _user_error_types() -> tuple[type[BaseException], ...]:
    from forcelab.drivers.errors import DeviceError
    from forcelab.errors import ForcelabError

    return (ForcelabError, DeviceError, FileNotFoundError, IsADirectoryError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    """Run the forcelab command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("forcelab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`forcelab info FILE | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except _user_error_types() as exc:
        print(f"forcelab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    from forcelab.commands._reader_options import as_typed

    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename}"
    return as_typed(" ".join(str(exc).split())) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
