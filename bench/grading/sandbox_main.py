"""Runs inside the sandbox: program.py, then test.py, then check(entry point)
if the test defines one; on success writes the run's token to the pipe whose fd number is its second argument.

Standalone on purpose (no imports from bench): it runs under `python -I`
in a namespace that sees the project read-only. The token arrives on stdin
and lives only in this function's locals; the program runs in a fresh
globals dict. Passing needs positive proof: a program that exits early
(os._exit(0), sys.exit(0)) never reaches the token.
Exit codes: 0 passed, 3 an assert failed, 4 any other error.
"""

import os
import sys


def main() -> int:
    token = sys.stdin.readline().strip()
    entry_point = sys.argv[1] if len(sys.argv) > 1 else ""
    token_fd = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with open("program.py", encoding="utf-8") as f:
        program = f.read()
    with open("test.py", encoding="utf-8") as f:
        test = f.read()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(program, "program.py", "exec"), namespace)
        exec(compile(test, "test.py", "exec"), namespace)
        if entry_point and callable(namespace.get("check")):
            namespace["check"](namespace[entry_point])
    except AssertionError:
        return 3
    except BaseException:  # SystemExit included: exiting is not passing
        import traceback

        traceback.print_exc(limit=3)
        return 4
    sys.stdout.flush()
    os.write(token_fd, (token + "\n").encode())
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no atexit handlers of the program's run after the verdict
