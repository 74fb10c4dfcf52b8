"""``aiodicom-findscu``: a DCMTK findscu compatible C-FIND SCU (PS3.4 C.4.1, K.4.1)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aiodicom.errors import AiodicomError
from aiodicom.net import run as run_loop

from .cli import ExitCode, parse_args
from .console import ConsoleLog
from .run import build_queries, exit_code_for, run_all


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit status."""
    ns, keys = parse_args(sys.argv[1:] if argv is None else argv)
    log = ConsoleLog(ns.log_level)
    try:
        queries = build_queries(ns, keys)
        code = run_loop(run_all(ns, queries))
    except AiodicomError as exc:
        log.error(str(exc))
        code = exit_code_for(exc)
    except KeyboardInterrupt:
        log.error("interrupted")
        code = ExitCode.INTERRUPTED
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
