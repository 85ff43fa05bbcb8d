"""The untrusted side of a sandbox run (see sandbox.py): runs the candidate
program in this fresh interpreter, then answers the trusted test runner's
requests ("call this function of yours with these arguments", "what is this
name") with plain data.

Nothing here is trusted: the program can rewrite any of it. That is fine,
because the only thing that reaches the tests is what wire.py decodes on
the trusted side, built there from exact builtin types. The conversions
below only make honest programs' values crossable (a Counter is a dict, a
namedtuple a tuple); they grant a program nothing it could not send anyway.

Usage: python -I candidate.py IN_FD OUT_FD STARTED_FD   (program.py beside this file)
"""

import os
import sys

# The start-up handshake (execute.py): one byte on the last argument's fd,
# before anything else runs, so the harness tells a sandbox that never started
# from a program that crashed.
os.write(int(sys.argv[-1]), b"S")
os.close(int(sys.argv[-1]))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script dir out

import wire  # noqa: E402

# The builtins this side uses, bound before the program runs: a program that
# patches the builtins module (legal, if odd) must not break its own answers.
from builtins import (  # fmt: skip
    bytearray,
    bytes,
    callable,
    complex,
    dict,
    float,
    frozenset,
    getattr,
    int,
    isinstance,
    list,
    set,
    str,
    tuple,
    type,
)

_BASES = (bool, int, float, complex, str, bytes, bytearray, dict, list, tuple, frozenset, set)


def to_plain(value, depth=0):
    """`value` as exact builtin types: subclasses become their base type, a
    regex match its truth value (True, all tests read of one); else TypeError."""
    if depth > wire.MAX_DEPTH:
        raise ValueError("value nested too deeply to cross")
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes, bytearray):
        return value
    if kind.__module__ == "re" and kind.__name__ == "Match":
        return True
    for base in _BASES:
        if isinstance(value, base):
            break
    else:
        raise TypeError(f"returned a {kind.__name__}, which is not plain data")
    if base is dict:
        return {to_plain(k, depth + 1): to_plain(v, depth + 1) for k, v in dict.items(value)}
    if base in (list, tuple, set, frozenset):
        return base(to_plain(item, depth + 1) for item in base.__iter__(value))
    return base(value)


def _describe(namespace):
    """What the program defines at top level: name -> callable | value |
    module NAME (one it imported, which the tests side imports itself) | other."""
    kinds = {}
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if type(value).__name__ == "module":
            kinds[name] = "module " + str(getattr(value, "__name__", ""))
        elif callable(value):
            kinds[name] = "callable"
        else:
            try:
                wire.encode(to_plain(value))
                kinds[name] = "value"
            except Exception:
                kinds[name] = "other"
    return kinds


def _answer(namespace, request):
    if "call" in request:
        function = namespace.get(request["call"])
        args = wire.decode(request["args"])
        kwargs = wire.decode(request["kwargs"])
        try:
            return {"ok": wire.encode(to_plain(function(*args, **kwargs)))}
        except Exception as exc:  # an exception is an answer too
            return {"raise": [type(exc).__name__, str(exc)[:2000]]}
    if "get" in request:
        return {"ok": wire.encode(to_plain(namespace.get(request["get"])))}
    raise wire.WireError("unknown request")


def main():
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    with open(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "program.py"), encoding="utf-8"
    ) as f:
        program = f.read()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(program, "program.py", "exec"), namespace)
    except BaseException as exc:  # SystemExit too: exiting is not passing
        import traceback

        traceback.print_exc(limit=3)
        wire.send(out_fd, {"load_error": f"{type(exc).__name__}: {str(exc)[:2000]}"})
        return 4
    wire.send(out_fd, {"ready": _describe(namespace)})
    while True:
        try:
            request = wire.receive(in_fd)
        except EOFError:
            return 0  # the tests are done
        wire.send(out_fd, _answer(namespace, request))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no atexit handlers of the program's run after the tests
