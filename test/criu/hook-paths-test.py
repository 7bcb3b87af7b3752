#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where snapsafe-criu-hook looks: inside the restored tree's root, never outside it.

Usage: hook-paths-test.py CASE SNAPSAFED SNAPSAFECTL HOOK

No CRIU: the hook is run the way CRIU runs it at post-restore (CRTOOLS_SCRIPT_ACTION,
CRTOOLS_INIT_PID), with the pid of a "container init" that this test forks and chroots into
a temporary directory, so that /proc/PID/root is a tree the test laid out. The page and the
socket of a snapsafed (the test's own, on a temporary runtime directory: the "host's") are
given to that tree as hard links, which the hook sees as a bind mount's files (the same
inodes), or pointed at with symbolic links that a hostile container could make.

Cases:
  in-root-link     the runtime directory reached through an absolute link that leads to
                   a directory of the container: the hook follows it inside the container
                   and raises through the daemon (generation + 1)
  dir-escape       the container's runtime directory is an absolute link to the host
                   daemon's: the hook must not follow it out (no page in the container:
                   exit 0, the host's generation unchanged)
  dir-escape-own   the same, the host daemon a child of the container init, so that the
                   hook would take it for the tree's own and write into its page: unchanged
  socket-escape    the page is the tree's, its control.sock a link to the host daemon's
                   socket: the hook must not connect through it (exit 1, unchanged)
  no-openat2       the in-root-link tree, the hook run under a seccomp filter that fails
                   openat2() with ENOSYS, as a kernel before 5.6 does: it cannot look up
                   anything safely, so it must fail (exit 1, unchanged); x86_64 only
"""
import ctypes
import os
import platform
import select
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from criulib import STEP, Daemon, Fail, cleanup, deadline_loop, workdir

CASE = sys.argv[1]
SNAPSAFED, SNAPSAFECTL, HOOK = map(os.path.abspath, sys.argv[2:5])


def page_generation(rt):
    """The generation that the page in @rt says (its first 32-bit word)."""
    with open(os.path.join(rt, "generation"), "rb") as f:
        return int.from_bytes(f.read(4), sys.byteorder)


class FakeInit:
    """A child of ours chrooted into @root: CRTOOLS_INIT_PID for the hook. With @own_wd it
    first starts a snapsafed (not chrooted) as its own child: a daemon inside the tree."""

    def __init__(self, root, own_wd=None):
        self.ready_r, ready_w = os.pipe()
        stop_r, self.stop_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.ready_r)
            os.close(self.stop_w)
            self._child(root, own_wd, ready_w, stop_r)
        os.close(ready_w)
        os.close(stop_r)
        for left in deadline_loop("the fake container init chrooted"):
            r, _, _ = select.select([self.ready_r], [], [], max(left, 0))
            if r:
                break
        said = os.read(self.ready_r, 4096).decode()
        if said != "ready":
            self.stop()
            raise Fail(f"the fake container init: {said or 'exited'}")

    @staticmethod
    def _child(root, own_wd, ready_w, stop_r):
        code = 0
        daemon = None
        try:
            if own_wd:
                daemon = Daemon(SNAPSAFED, SNAPSAFECTL, own_wd)
            os.chroot(root)
            os.chdir("/")
            os.write(ready_w, b"ready")
            os.read(stop_r, 1)  # until the test closes its end (or exits)
        except BaseException as e:  # report anything to the parent; never return into it
            os.write(ready_w, str(e).encode()[:4000])
            code = 1
        finally:
            if daemon:
                daemon.stop()
            os._exit(code)

    def stop(self):
        os.close(self.stop_w)
        try:
            for _ in deadline_loop("the fake container init exiting", 60):
                if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                    break
                select.select([self.ready_r], [], [], 0.05)  # a short wait between looks
        except Fail:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise
        finally:
            os.close(self.ready_r)


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def without_openat2():
    """In the child before exec: openat2() (437) fails with ENOSYS, as on Linux < 5.6."""
    ld, jeq, ret = 0x20, 0x15, 0x06         # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    prog = (SockFilter * 6)(
        SockFilter(ld, 0, 0, 4),             # the arch
        SockFilter(jeq, 0, 3, 0xc000003e),   # AUDIT_ARCH_X86_64, else allow
        SockFilter(ld, 0, 0, 0),             # the syscall number
        SockFilter(jeq, 0, 1, 437),          # openat2, else allow
        SockFilter(ret, 0, 0, 0x00050000 | 38),   # SECCOMP_RET_ERRNO | ENOSYS
        SockFilter(ret, 0, 0, 0x7fff0000))   # SECCOMP_RET_ALLOW
    fprog = SockFprog(len(prog), prog)
    libc = ctypes.CDLL(None, use_errno=True)
    if (libc.prctl(38, 1, 0, 0, 0) != 0 or  # PR_SET_NO_NEW_PRIVS
            libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0):  # SECCOMP_MODE_FILTER
        os._exit(126)


def run_hook(init_pid, runtime_dir, preexec_fn=None):
    env = dict(os.environ, CRTOOLS_SCRIPT_ACTION="post-restore",
               CRTOOLS_INIT_PID=str(init_pid), SNAPSAFE_RUNTIME_DIR=runtime_dir)
    r = subprocess.run([HOOK], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=STEP, preexec_fn=preexec_fn)
    print(f"hook: exit {r.returncode}: {r.stderr.strip()}")
    return r


def expect(r, code, words, gen0, gen, what):
    if gen != gen0:
        raise Fail(f"{what}: the host daemon's generation went from {gen0} to {gen}")
    if r.returncode != code or words not in r.stderr:
        raise Fail(f"{what}: the hook exited {r.returncode} ({r.stderr.strip()!r}); "
                   f"expected {code} and '{words}'")


def in_root_tree(wd, host):
    """A tree whose /link is an absolute link to /real-..., which has the host daemon's page
    and socket (hard links: the same files, as a bind mount would show them)."""
    root = os.path.join(wd, "root")
    real = f"/real-{os.path.basename(wd)}"   # a name that the host does not have
    os.makedirs(root + real + "/snapsafe")
    os.symlink(real, os.path.join(root, "link"))
    for name in ("generation", "control.sock"):
        os.link(os.path.join(host.rt, name), os.path.join(root + real, "snapsafe", name))
    return root


def in_root_link(wd, host):
    init = FakeInit(in_root_tree(wd, host))
    try:
        gen0 = page_generation(host.rt)
        r = run_hook(init.pid, "/link/snapsafe")
        gen = page_generation(host.rt)
    finally:
        init.stop()
    if r.returncode != 0 or gen != gen0 + 1:
        raise Fail(f"the hook exited {r.returncode} and the generation went from {gen0} to "
                   f"{gen}: expected 0 and + 1, through /link, a link of the container")


def dir_escape(wd, host):
    root = os.path.join(wd, "root")
    os.makedirs(os.path.join(root, "run"))
    os.symlink(host.rt, os.path.join(root, "run", "snapsafe"))
    init = FakeInit(root)
    try:
        gen0 = page_generation(host.rt)
        r = run_hook(init.pid, "/run/snapsafe")
        gen = page_generation(host.rt)
    finally:
        init.stop()
    expect(r, 0, "no /run/snapsafe/generation in the restored tree", gen0, gen,
           "a runtime directory linked to the host's")


def dir_escape_own(wd, host):
    own_wd = os.path.join(wd, "own")
    os.mkdir(own_wd)
    root = os.path.join(wd, "root")
    os.makedirs(os.path.join(root, "run"))
    os.symlink(os.path.join(own_wd, "rt"), os.path.join(root, "run", "snapsafe"))
    init = FakeInit(root, own_wd)
    try:
        rt = os.path.join(own_wd, "rt")
        gen0 = page_generation(rt)
        r = run_hook(init.pid, "/run/snapsafe")
        gen = page_generation(rt)
    finally:
        init.stop()
    expect(r, 0, "no /run/snapsafe/generation in the restored tree", gen0, gen,
           "a runtime directory linked to that of a daemon in the tree, outside its root")


def socket_escape(wd, host):
    root = os.path.join(wd, "root")
    os.makedirs(os.path.join(root, "run", "snapsafe"))
    os.link(os.path.join(host.rt, "generation"), os.path.join(root, "run", "snapsafe",
                                                              "generation"))
    os.symlink(host.sock, os.path.join(root, "run", "snapsafe", "control.sock"))
    init = FakeInit(root)
    try:
        gen0 = page_generation(host.rt)
        r = run_hook(init.pid, "/run/snapsafe")
        gen = page_generation(host.rt)
    finally:
        init.stop()
    expect(r, 1, "the restore must not go on", gen0, gen,
           "a control.sock linked to the host daemon's")


def no_openat2(wd, host):
    if platform.machine() != "x86_64":
        print("SKIP: the seccomp filter here is x86_64's")
        sys.exit(77)
    init = FakeInit(in_root_tree(wd, host))
    try:
        gen0 = page_generation(host.rt)
        r = run_hook(init.pid, "/link/snapsafe", without_openat2)
        gen = page_generation(host.rt)
    finally:
        init.stop()
    expect(r, 1, "needs openat2()", gen0, gen, "a kernel without openat2()")


CASES = {
    "in-root-link": in_root_link,
    "dir-escape": dir_escape,
    "dir-escape-own": dir_escape_own,
    "socket-escape": socket_escape,
    "no-openat2": no_openat2,
}


def main():
    if CASE not in CASES:
        raise SystemExit(f"unknown case {CASE}; one of {', '.join(CASES)}")
    if os.geteuid() != 0:
        print("SKIP: needs root (chroot, and the hook reads another process's root)")
        sys.exit(77)
    wd = workdir()
    host = Daemon(SNAPSAFED, SNAPSAFECTL, wd)
    try:
        CASES[CASE](wd, host)
    finally:
        host.stop()
    cleanup(wd)
    print(f"ok: {CASE}")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
