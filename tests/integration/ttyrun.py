#!/usr/bin/env python3
"""ttyrun.py - run a command on a terminal of its own and type answers.

    ttyrun.py ANSWER... -- COMMAND [ARG...]
    ttyrun.py --term-at-prompt -- COMMAND [ARG...]

COMMAND runs with a new pseudo-terminal as its controlling terminal
(and its stdin, stdout, stderr).  Each time it prompts (its output since
the last answer ends with ": " after the word "passphrase" or
"password"), the next ANSWER is typed, with a newline.  Everything it
wrote is copied to stdout; the exit status is COMMAND's (124 when it
did not finish within 60 seconds, 125 when an answer was echoed back).

With --term-at-prompt, COMMAND gets SIGTERM at its first prompt instead
of an answer; the exit status is 0 if it died of it and left the
terminal echoing again, 1 if not.
"""
import os
import pty
import re
import select
import signal
import sys
import termios
import time

PROMPT = re.compile(rb"(passphrase|password)[^\n]*: $")


def term_at_prompt(pid, fd, seen):
    """SIGTERM now; did the command turn echo back on before dying?"""
    echo_during = termios.tcgetattr(fd)[3] & termios.ECHO
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    echo_after = termios.tcgetattr(fd)[3] & termios.ECHO
    sys.stdout.write(seen.decode(errors="replace"))
    print("\nttyrun: echo at the prompt %s, after SIGTERM %s, status %d"
          % (bool(echo_during), bool(echo_after), status))
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    return 0 if killed and not echo_during and echo_after else 1


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    answers, command = args[:split], args[split + 1:]
    term = answers == ["--term-at-prompt"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen, pending = b"", b""
    deadline = time.monotonic() + 60
    status = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.stdout.write(seen.decode(errors="replace"))
            sys.exit(124)
        ready, _, _ = select.select([fd], [], [], min(left, 1))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        seen += chunk
        pending += chunk
        if term and PROMPT.search(pending):
            sys.exit(term_at_prompt(pid, fd, seen))
        if answers and PROMPT.search(pending):
            os.write(fd, answers.pop(0).encode() + b"\n")
            pending = b""
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors="replace"))
    typed = [a for a in sys.argv[1:split + 1] if a and a.encode() in seen]
    if typed:
        print("\nttyrun: echoed back: %s" % typed)
        sys.exit(125)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
