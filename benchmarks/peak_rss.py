"""Runs a command and writes its own peak resident memory to a file.

    python -I -S benchmarks/peak_rss.py OUT_JSON COMMAND [ARGS...]

Linux keeps a process's high-water RSS across fork and exec: a child of the benchmark (or of
anything large) reports at least its parent's size in `ru_maxrss`, whatever it used itself.
So the command is spawned from this small process (stdlib only, no site packages), and the
`ru_maxrss` that `os.wait4` gives for it is the command's own. Its stdin, stdout and stderr
are this process's; the exit code is the command's.
"""

import json
import os
import sys


def main() -> None:
    out, command = sys.argv[1], sys.argv[2:]
    pid = os.posix_spawn(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    with open(out, "w") as report:
        json.dump({"peak_rss_kib": usage.ru_maxrss}, report)  # KiB on Linux
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
