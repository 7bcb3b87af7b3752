# SPDX-License-Identifier: LGPL-2.1-or-later
"""The machinery of the criu suite: a snapsafed on a temporary runtime directory, CRIU (each
call with a deadline), the checkpointed program started as pid 1 of its own pid namespace,
and its restored clones, whose output pipes the test reads line by line with deadlines.

Nothing here sleeps: every wait is on an event (a line, a process state, an exit) and has a
deadline after which the test fails with a message that says what did not happen.
"""
import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# Generous: a 2-core machine that others share.
STEP = 120
PR_SET_CHILD_SUBREAPER = 36


class Fail(Exception):
    pass


def deadline_loop(what, seconds=STEP):
    """Yield until the caller breaks out; raise Fail(what) once @seconds have passed."""
    end = time.monotonic() + seconds
    while True:
        yield end - time.monotonic()
        if time.monotonic() > end:
            raise Fail(f"{what}: not within {seconds} s")


def become_subreaper():
    """Restored clones are children of criu, which exits (-d): make them ours to reap."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise Fail(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


class Daemon:
    """snapsafed on DIR/rt, with an empty kernel log file (vmfork-kmsg live: the engine
    serves under the default policy) and no uevents."""

    def __init__(self, snapsafed, snapsafectl, workdir):
        self.ctl = snapsafectl
        self.rt = os.path.join(workdir, "rt")
        self.sock = os.path.join(self.rt, "control.sock")
        kmsg = os.path.join(workdir, "kmsg")
        open(kmsg, "w").close()
        self.log = open(os.path.join(workdir, "snapsafed.log"), "w")
        self.proc = subprocess.Popen(
            [snapsafed, "--runtime-dir", self.rt, "--kmsg-path", kmsg, "--no-uevent",
             "--verbose"], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for _ in deadline_loop("snapsafed answering on its socket"):
            if self.proc.poll() is not None:
                raise Fail(f"snapsafed exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if self.request("STATUS").startswith("OK "):
                    break
            except OSError:
                select.select([], [], [], 0.01)  # not yet bound: poll again shortly

    def request(self, line, timeout=STEP):
        return Daemon.request_at(self.sock, line, timeout)

    @staticmethod
    def request_at(path, line, timeout=STEP):
        """One request on the socket at @path; its reply line."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("snapsafed closed the connection")
                data += chunk
            return data.decode().strip()

    def status(self):
        reply = self.request("STATUS")
        return dict(w.split("=", 1) for w in reply.split()[1:] if "=" in w)

    def generation(self):
        return int(self.status()["generation"])

    def watch_connection(self):
        """A new watcher connection, registered (its OK read): for a restored watcher."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(STEP)
        s.connect(self.sock)
        s.sendall(b"WATCH\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(1)
            if not chunk:
                raise Fail("snapsafed closed a WATCH connection")
            reply += chunk
        if not reply.startswith(b"OK "):
            raise Fail(f"WATCH: {reply!r}")
        s.settimeout(None)
        return s

    def snapsafectl(self, *args):
        return subprocess.run([self.ctl, "--runtime-dir", self.rt, *args],
                              capture_output=True, text=True, timeout=STEP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STEP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Criu:
    def __init__(self, command, workdir):
        self.command = command
        self.workdir = workdir
        self.calls = 0

    def run(self, args, env=None, pass_fds=()):
        """criu ARGS with a deadline; its log is named in the failure."""
        self.calls += 1
        log = os.path.join(self.workdir, f"criu-{self.calls}-{args[0]}.log")
        started = time.monotonic()
        proc = subprocess.Popen(self.command + args + ["-o", log, "-v4"], env=env,
                                pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return CriuCall(proc, log, args[0], started)


class CriuCall:
    def __init__(self, proc, log, action, started):
        self.proc, self.log, self.action, self.started = proc, log, action, started

    def wait(self):
        try:
            out, _ = self.proc.communicate(timeout=STEP)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise Fail(f"criu {self.action} did not finish within {STEP} s; see {self.log}")
        seconds = time.monotonic() - self.started
        if self.proc.returncode != 0:
            tail = ""
            if os.path.exists(self.log):
                tail = "".join(open(self.log, errors="replace").readlines()[-15:])
            raise Fail(f"criu {self.action} failed (exit {self.proc.returncode}): "
                       f"{out.decode(errors='replace')}\n{tail}")
        return seconds


class Lines:
    """The lines a process writes into a pipe, read with deadlines."""

    def __init__(self, fd, name):
        self.fd, self.name, self.buf = fd, name, b""

    def next(self, seconds=STEP):
        for left in deadline_loop(f"a line from {self.name}", seconds):
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                return line.decode()
            r, _, _ = select.select([self.fd], [], [], max(left, 0))
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise Fail(f"{self.name} closed its output")
                self.buf += chunk

    def rest(self, seconds=STEP):
        """What the pipe still holds, up to its end: every writer must be gone."""
        out = []
        for left in deadline_loop(f"the end of {self.name}'s output", seconds):
            r, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        for line in self.buf.decode().split("\n"):
            if line:
                out.append(line)
        self.buf = b""
        return out

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def proc_state(pid):
    """(state letter, syscall number or None) of @pid, or None once it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
        sysc = open(f"/proc/{pid}/syscall").read().split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return state, int(sysc[0]) if sysc and sysc[0].lstrip("-").isdigit() else None


def wait_asleep_in(pid, syscalls, what):
    """Until @pid sleeps in one of @syscalls (numbers): a quiet point to checkpoint at."""
    for _ in deadline_loop(f"{what} asleep in poll()"):
        st = proc_state(pid)
        if st is None:
            raise Fail(f"{what} exited")
        if st[0] == "S" and st[1] in syscalls:
            return
        select.select([], [], [], 0.005)  # a short wait between two looks at /proc


def reap(pid, what):
    """Reap @pid, a child of ours (directly, or as the subreaper); SIGKILL after the deadline."""
    try:
        for _ in deadline_loop(f"{what} exiting", 30):
            r, _ = os.waitpid(pid, os.WNOHANG)
            if r == pid:
                return
            select.select([], [], [], 0.01)
    except Fail:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def workdir():
    base = os.environ.get("TMPDIR") or "/tmp"
    d = tempfile.mkdtemp(prefix="snapsafe-criu-", dir=base)
    os.chmod(d, 0o755)
    return d


def cleanup(d):
    if not os.environ.get("SNAPSAFE_TEST_KEEP"):
        shutil.rmtree(d, ignore_errors=True)
