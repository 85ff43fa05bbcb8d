"""What a sandboxed process sees of the host (bubblewrap arguments), and the
seccomp filter it runs under.

The view is built from nothing: a fresh root with only the Python runtime
(its executable, standard library and the shared libraries they load, found
by asking that Python and `ldd`), a minimal /etc written here, a read-only
/dev, a private /proc, the run's inputs read-only at /sandbox, and sized
tmpfs scratch areas (/work, the working folder; /tmp; /dev/shm). No
project, datasets, results, home or host sockets are there to read or
connect to.

The view depends on the runtime alone, never on the harness's environment:
the runtime is probed with an empty environment (vLLM's CPU build puts its
venv's libgomp into LD_PRELOAD and LD_LIBRARY_PATH of the process that built
an engine, and `ldd` honours both), and nothing under the harness's own
folders (its venv, the project) is bound in.

Every writable place is sized: bwrap's own root is a tmpfs, and so is every
folder it makes for a mount point, so the root is remounted read-only once
the view is built; only the three scratch tmpfs stay writable. Their sum,
over both sides of a run, is `Scratch.per_run`. memfd_create, an unnamed
RAM file outside every tmpfs, is denied.

The seccomp filter (x86-64 only; elsewhere the namespaces alone hold) denies
the calls a test program never needs and an escape or a snoop would:
tracing and reading other processes' memory, new namespaces, mounts, kernel
keyrings, BPF, perf, userfaultfd, io_uring, modules, reboot.
"""

from __future__ import annotations

import os
import platform
import struct
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Scratch:
    """Sizes of the writable areas, in bytes (each its own tmpfs)."""

    work: int = 32 << 20
    tmp: int = 32 << 20
    shm: int = 8 << 20

    @property
    def per_side(self) -> int:
        """Bytes one sandbox can write: the sum of its writable areas."""
        return self.work + self.tmp + self.shm

    @property
    def per_run(self) -> int:
        """Bytes one run can hold in host memory: two sandboxes (candidate, tests)."""
        return 2 * self.per_side


# The environment the runtime is probed in: nothing of the harness's own.
_PROBE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def harness_folders() -> tuple[str, ...]:
    """The harness's own folders (its venv, the project), which no sandbox may see."""
    import sys

    from bench.paths import PROJECT_ROOT as project

    folders = {str(project)}
    if sys.prefix != sys.base_prefix:  # a venv: its packages, torch's libgomp among them
        folders.add(os.path.realpath(sys.prefix))
    return tuple(sorted(folders))


@cache
def runtime_paths(python: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(folders and files to bind read-only, symlinks of / to recreate) for `python`."""
    probe = (
        "import os, sys, sysconfig\n"
        "print(os.path.realpath(sys.executable))\n"
        "for key in ('stdlib', 'platstdlib'): print(os.path.realpath(sysconfig.get_path(key)))\n"
        "print(os.path.realpath(sysconfig.get_config_var('DESTSHARED') or ''))\n"
    )
    out = subprocess.run(
        [python, "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_PROBE_ENV,
    ).stdout.split("\n")
    executable, *folders = [line for line in out if line]
    binds = {executable, *[f for f in folders if os.path.isdir(f)]}
    objects = [executable]
    for folder in folders:
        if os.path.isdir(folder):
            objects += [str(p) for p in Path(folder).glob("*.so")]
    for library in _shared_libraries(objects):
        binds.add(os.path.dirname(os.path.realpath(library)))
        binds.add(os.path.realpath(os.path.dirname(library)))  # e.g. /lib64 -> /usr/lib64
    links = tuple(
        str(p) for p in sorted(Path("/").iterdir()) if p.is_symlink() and p.name != "proc"
    )
    # Nothing of the harness's own: were the runtime to need it, the sandbox's
    # start-up check fails with one line, rather than the view quietly growing.
    own = harness_folders()
    binds = {b for b in binds if not any(b == f or _inside(b, f) for f in own)}
    # Keep only the outermost of nested folders (a bind inside a bind is redundant).
    ordered = sorted(binds, key=len)
    kept = [b for i, b in enumerate(ordered) if not any(_inside(b, o) for o in ordered[:i])]
    return tuple(kept), links


def _inside(path: str, folder: str) -> bool:
    return path != folder and path.startswith(folder.rstrip("/") + "/")


def _shared_libraries(objects: list[str]) -> set[str]:
    """The shared libraries `objects` load, as ldd names them."""
    try:
        out = subprocess.run(
            ["ldd", *objects], capture_output=True, text=True, timeout=60, env=_PROBE_ENV
        ).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return set()
    found = set()
    for line in out:
        for part in line.replace("=>", " ").split():
            if part.startswith("/") and os.path.exists(part) and not part.endswith(":"):
                found.add(part)
    return found


def write_minimal_etc(folder: Path) -> str:
    """Write the few /etc files a Python program may read into `folder` (one
    run's own scratch, removed with it: nothing is left in /tmp)."""
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # whatever the umask
    files = {
        "passwd": "root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }
    for name, text in files.items():
        path = folder / name
        path.write_text(text)
        os.chmod(path, 0o644)
    return str(folder)


def bwrap_args(
    python: str, inputs: str, etc: str, scratch: Scratch, seccomp_fd: int | None
) -> list[str]:
    """bubblewrap's arguments for a process that sees only the runtime, `inputs`
    and `etc` (a folder from write_minimal_etc)."""
    binds, links = runtime_paths(python)
    args: list[str] = []
    for path in binds:
        args += ["--ro-bind", path, path]
    for link in links:
        args += ["--symlink", os.readlink(link), link]
    args += [
        "--ro-bind", etc, "/etc",
        "--ro-bind", inputs, "/sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(scratch.shm), "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",
        "--size", str(scratch.tmp), "--tmpfs", "/tmp",
        "--size", str(scratch.work), "--tmpfs", "/work",
        "--chdir", "/work",
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--die-with-parent", "--new-session", "--as-pid-1",
        "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin",
        "--setenv", "HOME", "/work",
        "--setenv", "TMPDIR", "/tmp",
        # Last: bwrap's root tmpfs and the folders it made for mount points are
        # unsized RAM; read-only, they hold nothing a program writes.
        "--remount-ro", "/",
    ]  # fmt: skip
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args


# x86-64 system call numbers denied to sandboxed code (EPERM).
_DENIED = {
    "ptrace": 101, "syslog": 103, "personality": 135, "pivot_root": 155, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "init_module": 175, "delete_module": 176, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    # Unnamed RAM files live outside every sized tmpfs.
    "memfd_create": 319, "memfd_secret": 447,
}  # fmt: skip
_CLONE, _CLONE3 = 56, 435
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
_CLONE_NAMESPACES |= 0x20000000 | 0x40000000 | 0x00000080
_AUDIT_ARCH_X86_64 = 0xC000003E
_EPERM, _ENOSYS = 1, 38


def seccomp_program() -> bytes | None:
    """The filter as raw BPF (what `bwrap --seccomp FD` reads), or None off x86-64."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000

    def errno(number: int) -> int:
        return 0x00050000 | number

    code = [
        (ld, 0, 0, 4),  # arch
        (jeq, 1, 0, _AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (ld, 0, 0, 0),  # system call number
        (jge, 0, 1, 0x40000000),  # the x32 ABI: not for us
        (ret, 0, 0, errno(_EPERM)),
        # clone3's flags sit behind a pointer BPF cannot follow: say it does not
        # exist, so the C library falls back to clone, whose flags it can see.
        (jeq, 0, 1, _CLONE3),
        (ret, 0, 0, errno(_ENOSYS)),
        (jeq, 0, 3, _CLONE),
        (ld, 0, 0, 16),  # clone's flags (low 32 bits of the first argument)
        (jset, 0, 1, _CLONE_NAMESPACES),
        (ret, 0, 0, errno(_EPERM)),
        (ld, 0, 0, 0),
    ]
    for number in sorted(_DENIED.values()):
        code += [(jeq, 0, 1, number), (ret, 0, 0, errno(_EPERM))]
    code.append((ret, 0, 0, allow))
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in code)
