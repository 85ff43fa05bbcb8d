"""The sandbox side of a stdin/stdout program (LiveCodeBench's stdin tests):
signal start-up, then run program.py as __main__ with one test's input on
stdin. Its stdout goes back to the harness, which compares it with the
expected output on the trusted side: no expected output, and no other test's
input, is ever inside the sandbox.

Usage: python -I stdio.py STARTED_FD   (program.py beside this file)
"""

import os
import sys

# The start-up handshake (execute.py): one byte before anything else runs.
os.write(int(sys.argv[-1]), b"S")
os.close(int(sys.argv[-1]))

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "program.py")
sys.argv = [PATH]
with open(PATH, encoding="utf-8") as f:
    CODE = compile(f.read(), "program.py", "exec")  # a syntax error: exit 1, a runtime error
del f
exec(CODE, {"__name__": "__main__", "__file__": PATH, "__builtins__": __builtins__})
