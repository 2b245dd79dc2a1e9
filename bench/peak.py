"""`python -m bench.peak MODULE ARGS...`: run MODULE as a program, then report its peak RSS.

The peak comes from the process's own VmHWM: a child's ru_maxrss on Linux also counts the memory
of the (large) benchmark process it was forked from, which would hide the figure being measured.
"""

from __future__ import annotations

import runpy
import sys

PREFIX = "peak-rss-kib "


def peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def main() -> None:
    module, sys.argv = sys.argv[1], sys.argv[1:]
    code: int | str | None = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    finally:
        print(f"{PREFIX}{peak_rss_kib()}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
