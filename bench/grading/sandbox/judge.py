"""The trusted side of a sandbox run (see sandbox.py): runs a task's tests
against a candidate program that lives in another process.

The task's own code (its test imports and, for HumanEval, the prompt with
its helper functions such as `poly` or `encode_cyclic`) runs here, so the
candidate can neither patch nor replace what the tests use. Every name the
tests use that neither that code nor the builtins define is looked up in the
candidate: a function becomes a proxy that sends the arguments over as plain
data and gets the result back as plain data (wire.py), a plain value is
copied. Asserts then compare values this process built itself.

The verdict goes to a channel the candidate never holds: one JSON line
{"status": passed | failed | error | gone, "detail": ...}; "gone" means the
candidate stopped answering (it exited or was killed), which the harness
turns into a status from how it ended.

Usage: python -I judge.py ENTRY_POINT FROM_FD TO_FD VERDICT_FD STARTED_FD
(prelude.py and test.py beside this file)
"""

import builtins
import contextlib
import importlib
import json
import os
import sys

# The start-up handshake (execute.py): one byte on the last argument's fd,
# before anything else runs, so the harness tells a sandbox that never started
# from a program that crashed.
os.write(int(sys.argv[-1]), b"S")
os.close(int(sys.argv[-1]))

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # -I leaves the script dir out

import wire  # noqa: E402


class CandidateGone(BaseException):
    """The candidate stopped answering. A BaseException, so that a test's own
    `except Exception` cannot swallow it."""


class Channel:
    def __init__(self, from_fd, to_fd):
        self.from_fd, self.to_fd = from_fd, to_fd

    def receive(self):
        try:
            return wire.receive(self.from_fd)
        except (EOFError, OSError) as exc:
            raise CandidateGone(str(exc)) from None
        except wire.WireError as exc:
            raise CandidateGone(f"malformed message: {exc}") from None

    def ask(self, request):
        try:
            wire.send(self.to_fd, request)
        except OSError as exc:  # a closed pipe: the candidate is gone
            raise CandidateGone(str(exc)) from None
        return self.receive()

    def result(self, reply):
        """The value of a reply, or its exception raised here (builtin
        exception types only; anything else as RuntimeError)."""
        if type(reply.get("raise")) is list and len(reply["raise"]) == 2:
            name, message = (str(part) for part in reply["raise"])
            kind = getattr(builtins, name, None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind, message = RuntimeError, f"{name}: {message}"
            raise kind(message)
        if "ok" not in reply:
            raise CandidateGone("reply without a value")
        try:
            return wire.decode(reply["ok"])
        except wire.WireError as exc:
            raise CandidateGone(f"malformed value: {exc}") from None


def proxy(channel, name):
    """A stand-in for the candidate's function `name`."""

    def call(*args, **kwargs):
        request = {"call": name, "args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)}
        return channel.result(channel.ask(request))

    call.__name__ = call.__qualname__ = name
    return call


def global_names(code):
    """Every name a code object (and those nested in it) may look up globally."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= global_names(const)
    return names


def run(entry_point, channel):
    hello = channel.receive()
    if "load_error" in hello:
        return "error", f"the program raised while loading: {hello['load_error']}"
    defined = hello.get("ready")
    if type(defined) is not dict:
        raise CandidateGone("no ready message")
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    with open(os.path.join(HERE, "prelude.py"), encoding="utf-8") as f:
        exec(compile(f.read(), "prelude.py", "exec"), namespace)
    with open(os.path.join(HERE, "test.py"), encoding="utf-8") as f:
        test = compile(f.read(), "test.py", "exec")
    for name in sorted(global_names(test)):
        if name in namespace or hasattr(builtins, name):
            continue
        if defined.get(name) == "callable":
            namespace[name] = proxy(channel, name)
        elif defined.get(name) == "value":
            namespace[name] = channel.result(channel.ask({"get": name}))
        elif str(defined.get(name)).startswith("module "):
            # A module the program imported (MBPP tests may use the program's
            # `import sys`): this side's own copy of it, never the program's.
            with contextlib.suppress(Exception):
                namespace[name] = importlib.import_module(defined[name][len("module ") :])
    if entry_point:
        if defined.get(entry_point) != "callable":
            return "error", f"the program defines no function {entry_point!r}"
        namespace[entry_point] = proxy(channel, entry_point)  # over the prompt's stub
    ours = namespace.get("check")  # the program's own `check` (MBPP 56) is not the test's
    exec(test, namespace)
    if entry_point and callable(namespace.get("check")) and namespace["check"] is not ours:
        namespace["check"](namespace[entry_point])
    return "passed", ""


def main():
    entry_point = sys.argv[1]
    channel = Channel(int(sys.argv[2]), int(sys.argv[3]))
    verdict_fd = int(sys.argv[4])
    try:
        status, detail = run(entry_point, channel)
    except CandidateGone as exc:
        status, detail = "gone", str(exc)
    except AssertionError as exc:
        status, detail = "failed", f"AssertionError: {exc}"[:2000]
    except BaseException as exc:  # SystemExit too: a test that exits did not pass
        import traceback

        traceback.print_exc(limit=3)
        status, detail = "error", f"{type(exc).__name__}: {exc}"[:2000]
    os.write(verdict_fd, (json.dumps({"status": status, "detail": detail}) + "\n").encode())
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
