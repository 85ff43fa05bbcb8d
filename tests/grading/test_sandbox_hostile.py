"""The trust boundary and the host's safety against programs that cheat or
harm: every cheat is a fail, every harm is contained, and a correct program
graded beside a hostile one still passes (sandbox.py's threat model)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from helpers import ROOT, needs_bwrap
from helpers import accept_into as _accept

from bench.grading.sandbox.accounting import processes_of
from bench.grading.sandbox.execute import run_many, run_tests
from bench.grading.sandbox.view import Scratch

pytestmark = needs_bwrap

ADD = "def add(a, b):\n    return a + b\n"
CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
MBPP = "assert add(2, 3) == 5\nassert add(10, -4) == 6\n"
ISCLOSE = "import math\nassert math.isclose(half(3), 1.5)\nassert abs(half(5) - 2.5) < 1e-9\n"


def _run(program: str, test: str = CHECK, entry: str | None = "add", **kw):
    return run_tests(textwrap.dedent(program), test, entry, **kw)


# ---- forged equality: values that claim to equal anything ----

FORGED = {
    "always-equal object": """
        class Yes:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = object.__hash__
        def add(a, b): return Yes()
    """,
    "int subclass": """
        class I(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        def add(a, b): return I(0)
    """,
    "str subclass": """
        class S(str):
            def __eq__(self, other): return True
            __hash__ = str.__hash__
        def add(a, b): return S("no")
    """,
    "float subclass": """
        class F(float):
            def __eq__(self, other): return True
            def __sub__(self, other): return 0.0
            __hash__ = float.__hash__
        def add(a, b): return F(99.0)
    """,
    "list holding a liar": """
        class Yes:
            def __eq__(self, other): return True
        def add(a, b): return [Yes()]
    """,
    "dict subclass": """
        class D(dict):
            def __eq__(self, other): return True
        def add(a, b): return D()
    """,
    "bool-like object": """
        class T:
            def __bool__(self): return True
            def __eq__(self, other): return True
        def add(a, b): return T()
    """,
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_equality_never_passes(name):
    assert not _run(FORGED[name]).passed
    assert not _run(FORGED[name], MBPP, None).passed


# ---- patching what the tests use ----

PATCHES = {
    "builtins.abs": "import builtins\nbuiltins.abs = lambda x: 0\n",
    "math.isclose": "import math\nmath.isclose = lambda *a, **k: True\n",
    "builtins.callable": "import builtins\nbuiltins.callable = lambda x: False\n",
    "builtins.compile": "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n",
    "builtins.exec": "import builtins\nbuiltins.exec = lambda *a, **k: None\n",
    "AssertionError": "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n",
    "sys.modules": "import sys, types\nsys.modules['math'] = types.SimpleNamespace(isclose=lambda *a, **k: True)\n",
    "sys.settrace skips asserts": (
        "import sys\n"
        "def skip(frame, event, arg):\n"
        "    frame.f_trace_lines = False\n"
        "    return None\n"
        "sys.settrace(skip)\n"
    ),
    "sys.setprofile": "import sys\nsys.setprofile(lambda *a: None)\n",
    "threading.settrace": "import threading\nthreading.settrace(lambda *a: None)\n",
    "sys.excepthook": "import sys\nsys.excepthook = lambda *a: None\n",
    "os._exit on assert": "import atexit, os\natexit.register(lambda: os._exit(0))\n",
}


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_patching_builtins_stdlib_or_hooks_does_not_change_the_verdict(name):
    wrong = PATCHES[name] + "def half(x):\n    return 0.0\ndef add(a, b):\n    return 0\n"
    right = PATCHES[name] + "def half(x):\n    return x / 2\ndef add(a, b):\n    return a + b\n"
    assert not run_tests(wrong, ISCLOSE, "half").passed
    assert not run_tests(wrong, CHECK, "add").passed
    # The patch itself is harmless to an honest answer.
    assert run_tests(right, ISCLOSE, "half").passed
    assert run_tests(right, CHECK, "add").passed


def test_replacing_a_prompt_helper_does_not_fool_the_tests():
    """HumanEval's tests use helpers from the prompt (poly, encode_cyclic): they
    run on the trusted side, so a program that redefines them gains nothing."""
    prompt = "def poly(xs, x):\n    return sum(c * x**i for i, c in enumerate(xs))\n\ndef find_zero(xs):\n    pass\n"
    test = "def check(candidate):\n    x = candidate([-6, 11, -6, 1])\n    assert abs(poly([-6, 11, -6, 1], x)) < 1e-4\n"
    cheat = "def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 123.0\n"
    honest = prompt.replace("    pass\n", "    return 1.0\n")
    assert not run_tests(cheat, test, "find_zero", prelude=prompt).passed
    assert run_tests(honest, test, "find_zero", prelude=prompt).passed


# ---- reading the tests, expected values, answer keys, the proof ----

READERS = {
    "test file beside it": "open('test.py').read()",
    "inputs folder": "open('/sandbox/test.py').read()",
    # Everything but /proc, /sys and /dev, which only take time to walk.
    "glob for tests": (
        "import glob, os\nassert [p for top in os.listdir('/') if top not in ('proc', 'sys', 'dev')"
        " for p in glob.glob(f'/{top}/**/test.py', recursive=True)]"
    ),
    "datasets": (
        "import glob, os\nassert [p for top in os.listdir('/') if top not in ('proc', 'sys', 'dev')"
        " for p in glob.glob(f'/{top}/**/*.jsonl', recursive=True)]"
    ),
    "project": "open(" + repr(os.path.abspath(__file__)) + ").read()",
    "caller frames": (
        "import sys\nf = sys._getframe()\n"
        "while f:\n    assert '5' not in repr(f.f_locals)\n    f = f.f_back\n"
        "raise RuntimeError('no expected values in any frame')"
    ),
    "gc objects": (
        "import gc\nassert any(isinstance(o, str) and 'candidate(2, 3)' in o for o in gc.get_objects())"
    ),
    "other processes": "import os\nassert [p for p in os.listdir('/proc') if p.isdigit() and p != '1']",
    "home": "import os\nassert os.listdir('/root')",
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_the_tests_and_answer_keys_are_out_of_reach(name):
    """Each program reads what it should not, then answers correctly only if the
    read succeeded: so a pass would mean a leak."""
    program = (
        "def add(a, b):\n    " + READERS[name].replace("\n", "\n    ") + "\n    return a + b\n"
    )
    result = run_tests(program, CHECK, "add")
    assert not result.passed, result.stderr[-500:]


def test_forging_the_verdict_on_every_descriptor_fails():
    program = """
        import json, os
        for fd in range(3, 256):
            for line in ('{"status": "passed", "detail": ""}\\n', "passed\\n"):
                try:
                    os.write(fd, line.encode())
                except OSError:
                    pass
        os._exit(0)
    """
    assert _run(program).status in ("failed", "crashed")


def test_forging_wire_messages_fails():
    """A program that answers the channel itself with crafted messages."""
    program = """
        import os, sys
        wire = sys.modules["wire"]
        wire.send(int(sys.argv[2]), {"ready": {"add": "callable"}})
        wire.send(int(sys.argv[2]), {"ok": {"x": "not a tag"}})
        wire.send(int(sys.argv[2]), {"ok": {"i": "5"}})
        os._exit(0)
    """
    assert _run(program).status in ("failed", "crashed")
    huge = "import os, sys\nos.write(int(sys.argv[2]), (1 << 62).to_bytes(8, 'big'))\nos._exit(0)\n"
    assert not _run(huge).passed


# ---- harm: scratch space, processes, CPU, leftovers, escapes ----


def test_scratch_areas_are_sized_and_private():
    limits = Scratch()
    program = f"""
        import os
        sizes = {{}}
        for area in ("/tmp", "/dev/shm", "/work"):
            st = os.statvfs(area)
            sizes[area] = st.f_blocks * st.f_frsize
            try:
                with open(os.path.join(area, "fill"), "wb") as f:
                    for _ in range(400):
                        f.write(b"x" * (1 << 20))
                FILLED = True
            except OSError:
                pass
            for name in os.listdir(area):
                if name.startswith("fill"):
                    os.remove(os.path.join(area, name))
        assert sizes["/tmp"] <= {limits.tmp} and sizes["/dev/shm"] <= {limits.shm}
        assert sizes["/work"] <= {limits.work}
        assert os.getcwd() == "/work"
        try:
            open("/dev/evil", "w")
        except OSError:
            pass
        else:
            raise AssertionError("/dev is writable")
        def add(a, b):
            return a + b
    """
    result = _run(program, timeout_s=20)
    assert result.passed, result.stderr[-800:]
    assert "FILLED" not in result.stdout


def test_many_small_files_do_not_escape_the_size_limit():
    program = """
        import os
        n = 0
        try:
            while n < 200000:
                with open(f"/tmp/f{n}", "wb") as f:
                    f.write(b"x" * 4096)
                n += 1
        except OSError:
            pass
        assert n < 200000
        def add(a, b):
            return a + b
    """
    assert _run(program, timeout_s=20).passed


def test_deep_directory_trees_are_left_behind_harmlessly():
    program = """
        import os
        for root in ("/work", "/tmp"):
            path = root
            try:
                for i in range(3000):
                    path = os.path.join(path, "d")
                    os.mkdir(path)
                    os.chdir(path)
                    path = "."
            except OSError:
                pass
        os.chdir("/work")
        def add(a, b):
            return a + b
    """
    result = _run(program, timeout_s=20)
    assert result.status == "passed", result.stderr[-500:]
    assert run_tests(ADD, CHECK, "add").passed


def test_daemons_do_not_survive_the_run():
    program = """
        import os, signal, time
        print(os.getuid(), flush=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN)
                time.sleep(3600)
            os._exit(0)
        def add(a, b):
            return a + b
    """
    result = _run(program)
    assert result.passed
    if os.geteuid() == 0:  # nothing of the run's uid is left
        assert processes_of([int(result.stdout.split()[0])]) == []


HOGS = {
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "cpu in children": (
        "import os\nfor _ in range(6):\n    if os.fork() == 0:\n        while True:\n            pass\n"
        "while True:\n    pass\n"
    ),
    "memory": "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))\n",
    "scratch filler": "with open('/tmp/x', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n",
}


@pytest.mark.slow
def test_hogs_beside_correct_programs_do_not_make_them_fail():
    jobs = []
    for hog in HOGS.values():
        jobs += [(hog, CHECK, "add"), (ADD, CHECK, "add"), (ADD, MBPP, None)]
    results = run_many(jobs, timeout_s=2.0, workers=4)
    for (program, _, _), result in zip(jobs, results, strict=True):
        if program == ADD:
            assert result.passed, result.stderr[-500:]
        else:
            assert not result.passed


def test_cpu_time_counts_over_the_whole_process_tree():
    program = (
        "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True:\n            pass\n"
        "while True:\n    pass\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = run_tests(program, CHECK, "add", timeout_s=1.0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert result.status == "timeout"
    # Four busy processes at a per-process limit alone would use about 4 s.
    assert used < 2.2, used
    assert time.monotonic() - started < 5


def test_nested_namespaces_and_tracing_are_refused():
    program = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        RESULTS = {
            "unshare user": libc.unshare(0x10000000),
            "unshare mount": libc.unshare(0x00020000),
            "ptrace": libc.ptrace(16, 1, 0, 0),
            "mount": libc.mount(b"none", b"/work", b"tmpfs", 0, None),
        }
        print(RESULTS)
        def add(a, b):
            return a + b
    """
    result = _run(program)
    assert result.passed, result.stderr[-500:]
    assert "0" not in [v.strip() for v in result.stdout.strip("{}\n").split(",")], result.stdout
    assert all(
        value.strip().split(":")[-1].strip() == "-1"
        for value in result.stdout.strip("{}\n").split(",")
    )


def test_host_unix_sockets_are_unreachable(tmp_path):
    path = tmp_path / "host.sock"
    named = socket.socket(socket.AF_UNIX)
    named.bind(str(path))
    os.chmod(path, 0o777)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0thinkbench-host-test")
    accepted = []
    for server in (named, abstract):
        server.listen()
        server.settimeout(4)
        threading.Thread(target=_accept, args=(server, accepted), daemon=True).start()
    for address in (str(path), "\\0thinkbench-host-test"):
        program = (
            f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({address!r})\n" + ADD
        )
        assert run_tests(program, CHECK, "add").status == "error"
    time.sleep(0.5)
    named.close()
    abstract.close()
    assert accepted == []


@pytest.mark.slow
def test_no_zombie_or_survivor_where_init_never_reaps(tmp_path):
    """The harness under a parent that adopts orphans and never reaps them (as
    some containers' init): after many runs, nothing was orphaned to it."""
    script = tmp_path / "harness.py"
    script.write_text(
        "from bench.grading.sandbox.execute import run_many\n"
        f"jobs = [({ADD!r}, {CHECK!r}, 'add')] * 30 + [({HOGS['fork bomb']!r}, {CHECK!r}, 'add')] * 2\n"
        "print(sum(r.passed for r in run_many(jobs, timeout_s=1.0)))\n"
    )
    wrapper = (
        "import ctypes, os, subprocess, sys\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"  # PR_SET_CHILD_SUBREAPER
        f"p = subprocess.Popen([sys.executable, {str(script)!r}], stdout=subprocess.PIPE, text=True)\n"
        "out = p.stdout.read()\nos.waitpid(p.pid, 0)\n"
        "orphans = []\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n"
        "            ppid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "        except OSError:\n"
        "            continue\n"
        "        if ppid == os.getpid():\n"
        "            orphans.append(pid)\n"
        "print(out.strip(), len(orphans))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    passed, orphans = out.stdout.split()
    assert (passed, orphans) == ("30", "0"), out.stderr[-500:]


# ---- run_tests never raises ----


@pytest.mark.parametrize(
    "program, test, entry",
    [
        ("x = '\udc80'\n" + ADD, CHECK, "add"),
        (ADD, CHECK, "ad\0d"),
        (ADD + "\0", CHECK, "add"),
        (ADD, "def check(candidate):\n    assert candidate(lambda: 1, 2)\n", "add"),
        (ADD, "\udc80", "add"),
        ("def add(a, b):\n    return (x for x in [a + b])\n", CHECK, "add"),
        (
            "import sys\nsys.setrecursionlimit(10**6)\ndef add(a, b):\n    x = []\n    for _ in range(200000):\n        x = [x]\n    return x\n",
            CHECK,
            "add",
        ),
    ],
)
def test_odd_input_is_a_status_never_an_exception(program, test, entry):
    result = run_tests(program, test, entry)
    assert not result.passed and result.status in ("error", "failed", "crashed")


def test_values_cross_as_exact_plain_types():
    program = """
        from collections import Counter, OrderedDict, namedtuple
        import re
        P = namedtuple("P", "x y")
        def f(kind):
            return {
                "counter": Counter("aab"),
                "ordered": OrderedDict(a=1),
                "namedtuple": P(1, 2),
                "match": re.match("a", "abc"),
                "nomatch": re.match("z", "abc"),
                "big": 10 ** 5000,
                "nan": float("nan"),
                "nested": {(1, 2): [frozenset({1}), {b"x", "y"}, 1 + 2j, bytearray(b"z")]},
                "surrogate": "\\udc80",
            }[kind]
    """
    test = """
        import math
        assert type(f("counter")) is dict and f("counter") == {"a": 2, "b": 1}
        assert type(f("ordered")) is dict
        assert type(f("namedtuple")) is tuple and f("namedtuple") == (1, 2)
        assert f("match") is True and f("nomatch") is None
        assert f("big") == 10 ** 5000
        assert math.isnan(f("nan"))
        assert f("nested") == {(1, 2): [frozenset({1}), {b"x", "y"}, 1 + 2j, bytearray(b"z")]}
        assert f("surrogate") == "\\udc80"
    """
    result = run_tests(textwrap.dedent(program), textwrap.dedent(test), "f")
    assert result.passed, result.stderr[-800:]


def test_exceptions_cross_as_builtin_types():
    program = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
    test = (
        "def check(candidate):\n"
        "    try:\n        candidate(-1)\n    except ValueError as e:\n        assert 'negative' in str(e)\n"
        "    else:\n        raise AssertionError('no error')\n"
        "    assert candidate(3) == 3\n"
    )
    assert run_tests(program, test, "f").passed
    custom = "class Weird(Exception):\n    pass\ndef f(x):\n    raise Weird('x')\n"
    assert not run_tests(custom, test, "f").passed
