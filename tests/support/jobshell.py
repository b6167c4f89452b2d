"""A minimal job-control shell: runs one command as a foreground job, like bash does.

Ctrl-Z only stops a process whose process group has a parent in the same session (POSIX
discards SIGTSTP for an orphaned group), so a test of Ctrl-Z and ``fg`` needs a shell in
between. Usage: ``python jobshell.py CMD...`` as a session leader on the pty. When the
job stops the shell takes the terminal back, as bash does; SIGUSR1 is ``fg``. Exits with
the job's status.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # tcsetpgrp from the background
    resume = False

    def fg(_signum: int, _frame: object) -> None:
        nonlocal resume
        resume = True

    signal.signal(signal.SIGUSR1, fg)
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        os.execvp(argv[0], argv)
    os.setpgid(pid, pid)
    os.tcsetpgrp(0, pid)
    while True:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if os.WIFSTOPPED(status):
            os.tcsetpgrp(0, os.getpgrp())
            while not resume:
                signal.pause()
            resume = False
            os.tcsetpgrp(0, pid)
            os.killpg(pid, signal.SIGCONT)
        else:
            return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
