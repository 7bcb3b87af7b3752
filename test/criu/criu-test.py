#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""CRIU checkpoint/restore of a libsnapsafe client, restored as two clones at once.

Usage: criu-test.py CASE SNAPSAFED SNAPSAFECTL HOOK DRAW_WIPEONFORK DRAW FETCH_CRIU

The client (criu-draw.c) runs as pid 1 of its own pid namespace, maps the page of a snapsafed
started for this test on a temporary runtime directory, and draws 32-byte outputs for ever.
Once it has drawn for a while it is checkpointed, asleep in poll() with nothing drawn and
unwritten, and restored twice at the same time (each restore gets its own pid namespace);
every clone's output is compared with the other clone's and with the original's.

Cases:
  wipeonfork-no-hook-repeats     state in MADV_WIPEONFORK memory (CRIU keeps its content), no
                                 hook: the clones must repeat each other (the control)
  wipeonfork-hook-never-repeats  the same with snapsafe-criu-hook as the action script: no
                                 output repeats, and each clone's first draw comes from a
                                 new seed of the engine
  droppable-no-hook              the library as built (MAP_DROPPABLE where the kernel has it:
                                 CRIU skips those pages), no hook: must not repeat
  watcher-sees-restore           a watcher in the restored client gets the new generation
                                 before anything else happens, and `snapsafectl wait-watchers`
                                 waits until it acknowledges
  hook-refuses-without-daemon    the daemon stopped before the restore: the hook cannot raise,
                                 so CRIU must abort the restore and nothing of it runs
  own-daemon-hook                snapsafed runs inside the checkpointed tree (a container's own
                                 daemon), restored with it and stopped at pre-resume: the hook
                                 raises in its page, the clone's first draw is a new seed, and
                                 at post-resume the restored daemon itself publishes the raise
"""
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from criulib import (Criu, Daemon, Fail, Lines, become_subreaper, cleanup, deadline_loop,
                     reap, wait_asleep_in, workdir)

CASE = sys.argv[1]
SNAPSAFED, SNAPSAFECTL, HOOK, DRAW_WOF, DRAW, FETCH = map(os.path.abspath, sys.argv[2:8])
BEFORE = 300        # draws of the original before the checkpoint
AFTER = 2000        # draws read from each clone
POLL_SYSCALLS = {7, 271}   # poll, ppoll
started = []               # pids of the trees we started or restored: killed on the way out


def parse_draw(line):
    """'D index reseeds engine generation hex' -> dict."""
    w = line.split()
    if len(w) != 6 or w[0] != "D":
        raise Fail(f"not a draw line: {line!r}")
    return {"index": int(w[1]), "reseeds": int(w[2]), "engine": w[3] == "1",
            "generation": int(w[4]), "out": w[5]}


class Original:
    """The client as pid 1 of a new pid namespace, stdout a pipe of ours."""

    def __init__(self, command, env, wd):
        self.out_r, out_w = os.pipe()
        self.in_r, self.in_w = os.pipe()
        # unshare writes to its own stderr when the dump kills its child: keep that out of
        # the client's, a file that CRIU restores as it was (same size).
        self.err = open(os.path.join(wd, "unshare.err"), "w")
        self.unshare = subprocess.Popen(["unshare", "-p", "-f", "setsid"] + command,
                                        stdin=self.in_r, stdout=out_w, stderr=self.err,
                                        env=env)
        os.close(out_w)
        self.pipe_ino = os.fstat(self.out_r).st_ino
        self.stdin_ino = os.fstat(self.in_r).st_ino
        self.lines = Lines(self.out_r, "the original client")
        self.pid = None
        for _ in deadline_loop("the client starting under unshare"):
            try:
                kids = open(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children")
                words = kids.read().split()
            except FileNotFoundError:
                raise Fail(f"unshare exited ({self.unshare.poll()})")
            if words:
                self.pid = int(words[0])
                started.append(self.pid)
                break
            os.sched_yield()


def fd_inode(pid, fd, kind):
    """The inode of @pid's descriptor @fd, which must be a @kind ('pipe', 'socket')."""
    link = os.readlink(f"/proc/{pid}/fd/{fd}")
    if not link.startswith(kind + ":["):
        raise Fail(f"fd {fd} of the client is {link}, expected a {kind}")
    return int(link[len(kind) + 2:-1])


def watcher_fd(pid):
    """The client's one Unix socket: its watcher's connection to snapsafed."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
        if link.startswith("socket:["):
            found.append((int(fd), int(link[8:-1])))
    if len(found) != 1:
        raise Fail(f"the client holds {len(found)} sockets, expected its watcher's only")
    return found[0]


def client_command(program, mode, wd):
    return ["sh", "-c", 'exec "$0" "$1" 2>"$2"', program, mode, os.path.join(wd, "client.err")]


def checkpoint(criu, rt, command, mode, wd, dump_options=()):
    """Start @command (the client as pid 1) with the runtime directory @rt, read BEFORE draws,
    dump it. Returns (memory line, draws, images, inodes)."""
    env = dict(os.environ, SNAPSAFE_RUNTIME_DIR=rt)
    env.pop("SNAPSAFE_ENGINE", None)
    orig = Original(command, env, wd)
    memory = orig.lines.next()
    draws = [parse_draw(orig.lines.next()) for _ in range(BEFORE)]
    # Read no more: the pipe fills and the client sleeps in poll(), holding no drawn output.
    wait_asleep_in(orig.pid, POLL_SYSCALLS, "the original client")
    images = os.path.join(wd, "images")
    os.mkdir(images)
    inodes = {"out": fd_inode(orig.pid, 1, "pipe"), "in": fd_inode(orig.pid, 0, "pipe")}
    args = ["dump", "-t", str(orig.pid), "-D", images, *dump_options]
    if mode == "watch":
        _, inodes["sock"] = watcher_fd(orig.pid)
        args += ["--external", f"unix[{inodes['sock']}]"]
    seconds = criu.run(args).wait()
    print(f"dump: {seconds:.2f} s")
    # The dump killed the client: what the pipe still holds is the rest of its output.
    draws += [parse_draw(l) for l in orig.lines.rest()]
    orig.lines.close()
    reap(orig.unshare.pid, "unshare")
    os.close(orig.in_r)
    os.close(orig.in_w)
    return memory, draws, images, inodes


class Clone:
    def __init__(self, name, pid, lines, stdin_w, sock):
        self.name, self.pid, self.lines, self.stdin_w, self.sock = name, pid, lines, stdin_w, sock

    def finish(self):
        self.lines.close()
        os.close(self.stdin_w)
        if self.sock:
            self.sock.close()
        reap(self.pid, self.name)


def restore(criu, daemon, images, inodes, hook, names, wd, rt=None, options=()):
    """Restore one clone per name, all at once. Returns the clones, running."""
    calls = []
    for name in names:
        out_r, out_w = os.pipe()
        in_r, in_w = os.pipe()
        pidfile = os.path.join(wd, f"{name}.pid")
        args = ["restore", "-D", images, "-d", "--pidfile", pidfile, *options,
                "--inherit-fd", f"fd[{out_w}]:pipe:[{inodes['out']}]",
                "--inherit-fd", f"fd[{in_r}]:pipe:[{inodes['in']}]"]
        fds = [out_w, in_r]
        sock = None
        if "sock" in inodes:
            # A new watcher connection (registered now, before the raise) in place of the
            # one that went with the original: CRIU cannot reconnect it.
            sock = daemon.watch_connection()
            args += ["--inherit-fd", f"fd[{sock.fileno()}]:socket:[{inodes['sock']}]"]
            fds.append(sock.fileno())
        if hook:
            args += ["--action-script", hook]
        env = dict(os.environ, SNAPSAFE_RUNTIME_DIR=rt or daemon.rt)
        calls.append((name, pidfile, out_r, out_w, in_r, in_w, sock,
                      criu.run(args, env=env, pass_fds=fds)))
    clones = []
    for name, pidfile, out_r, out_w, in_r, in_w, sock, call in calls:
        seconds = call.wait()
        print(f"restore {name}: {seconds:.2f} s")
        os.close(out_w)
        os.close(in_r)
        pid = int(open(pidfile).read())
        started.append(pid)
        clones.append(Clone(name, pid, Lines(out_r, f"clone {name}"), in_w, sock))
    return clones


def repeats(a, b):
    return len({d["out"] for d in a} & {d["out"] for d in b})


def compare(orig, clones):
    """Read AFTER draws of each clone; returns them and prints the repeats."""
    outs = {}
    for c in clones:
        outs[c.name] = [parse_draw(c.lines.next()) for _ in range(AFTER)]
        c.finish()
    a, b = outs["a"], outs["b"]
    figures = {"a-b": repeats(a, b), "a-original": repeats(a, orig), "b-original": repeats(b, orig)}
    print(f"repeated 32-byte outputs ({AFTER} per clone, {len(orig)} of the original): "
          + ", ".join(f"{k} {v}" for k, v in figures.items()))
    for name, draws in outs.items():
        first = draws[0]
        print(f"clone {name} first draw: index {first['index']}, seeds {first['reseeds']}, "
              f"engine {int(first['engine'])}, generation {first['generation']}")
    return outs, figures


def assert_engine(draws, who):
    served = sum(d["engine"] for d in draws)
    if served != len(draws):
        raise Fail(f"{who}: {len(draws) - served} of {len(draws)} draws were not served by "
                   "the engine (the test must exercise the engine path)")


def case_two_clones(criu, daemon, program, want_memory, hook, wd):
    memory, orig, images, inodes = checkpoint(criu, daemon.rt, client_command(program, "draw", wd),
                                              "draw", wd)
    if memory != f"M {want_memory}":
        if want_memory == "droppable":
            print(f"SKIP: the engine state is '{memory[2:]}': this kernel has no MAP_DROPPABLE")
            sys.exit(77)
        raise Fail(f"the client's engine state is '{memory}', expected {want_memory}")
    assert_engine(orig, "the original")
    gen0 = daemon.generation()
    clones = restore(criu, daemon, images, inodes, hook, ["a", "b"], wd)
    outs, figures = compare(orig, clones)
    for name, draws in outs.items():
        assert_engine(draws, f"clone {name}")
    return orig, outs, figures, gen0


def wipeonfork_no_hook_repeats(criu, daemon, wd):
    _, outs, figures, _ = case_two_clones(criu, daemon, DRAW_WOF, "wipeonfork", None, wd)
    if figures["a-b"] != AFTER:
        raise Fail(f"without the hook the clones repeated {figures['a-b']} of {AFTER} outputs, "
                   "expected all: the control cannot show what the hook prevents")


def fresh_first_draws(orig, outs, gen0):
    last = orig[-1]
    for name, draws in outs.items():
        first = draws[0]
        if first["index"] != last["index"] + 1:
            raise Fail(f"clone {name} starts at draw {first['index']}, expected "
                       f"{last['index'] + 1}")
        if first["reseeds"] != last["reseeds"] + 1 or first["generation"] <= gen0:
            raise Fail(f"clone {name}'s first draw after resume came from seed "
                       f"{first['reseeds']} at generation {first['generation']}; the "
                       f"original's last from seed {last['reseeds']} at generation {gen0}: "
                       "expected a new seed at a higher generation")


def wipeonfork_hook_never_repeats(criu, daemon, wd):
    orig, outs, figures, gen0 = case_two_clones(criu, daemon, DRAW_WOF, "wipeonfork", HOOK, wd)
    gen = daemon.generation()
    print(f"generation {gen0} before the restores, {gen} after")
    if any(figures.values()):
        raise Fail(f"with the hook outputs repeat: {figures}")
    fresh_first_draws(orig, outs, gen0)
    if gen != gen0 + 2:
        raise Fail(f"two restores raised the generation from {gen0} to {gen}, expected +2")


def droppable_no_hook(criu, daemon, wd):
    orig, outs, figures, gen0 = case_two_clones(criu, daemon, DRAW, "droppable", None, wd)
    if any(figures.values()):
        raise Fail(f"MAP_DROPPABLE state restored by CRIU repeats: {figures}")
    # No raise: the state came back zeroed and the engine seeded again by itself.
    last = orig[-1]
    for name, draws in outs.items():
        if draws[0]["reseeds"] != last["reseeds"] + 1:
            raise Fail(f"clone {name}'s first draw came from seed {draws[0]['reseeds']}, the "
                       f"original's last from {last['reseeds']}: the state was not zero")


def watcher_sees_restore(criu, daemon, wd):
    memory, orig, images, inodes = checkpoint(criu, daemon.rt,
                                              client_command(DRAW_WOF, "watch", wd), "watch", wd)
    gen0 = daemon.generation()
    (clone,) = restore(criu, daemon, images, inodes, HOOK, ["a"], wd)
    gen = daemon.generation()
    first = clone.lines.next()
    if first != f"W {gen}":
        raise Fail(f"the restored watcher's first line is {first!r}, expected 'W {gen}': the "
                   f"generation was {gen0} at the checkpoint and is {gen} now")
    waited = daemon.snapsafectl("wait-watchers", "--timeout", "0")
    if waited.returncode != 5:
        raise Fail(f"wait-watchers --timeout 0 before the ack: exit {waited.returncode}, "
                   f"expected 5 (one watcher outdated): {waited.stderr}")
    os.write(clone.stdin_w, b"\n")
    for _ in deadline_loop("the restored watcher's ack"):
        line = clone.lines.next()
        if line.startswith("A "):
            break
    if line != f"A {gen}":
        raise Fail(f"the restored watcher acknowledged {line!r}, expected 'A {gen}'")
    waited = daemon.snapsafectl("wait-watchers", "--timeout", "60000")
    if waited.returncode != 0:
        raise Fail(f"wait-watchers after the ack: exit {waited.returncode}: {waited.stderr}")
    print(f"watcher: saw generation {gen} (was {gen0}) first, acked; wait-watchers returned")
    clone.finish()


def hook_refuses_without_daemon(criu, daemon, wd):
    _, _, images, inodes = checkpoint(criu, daemon.rt, client_command(DRAW_WOF, "draw", wd),
                                      "draw", wd)
    daemon.stop()   # the page says that no daemon runs; nobody answers on the socket
    try:
        restore(criu, daemon, images, inodes, HOOK, ["a"], wd)
    except Fail as e:
        if "criu restore failed" not in str(e):
            raise
        # CRIU writes the pidfile only once the tree is to resume; it killed the tree instead.
        if os.path.exists(os.path.join(wd, "a.pid")):
            raise Fail("criu failed, but after the restored tree was let run (a.pid exists)")
        print("restore refused, as it must be: the hook could not raise")
        return
    raise Fail("the restore went on although the hook could not raise the generation")


OWN_DAEMON = """
"$0" --runtime-dir "$1" --kmsg-path "$2" --no-uevent --verbose </dev/null >/dev/null 2>"$3" &
# Wait for the daemon to answer (the test's deadline on the first line bounds this).
until "$4" --runtime-dir "$1" status >/dev/null 2>&1; do :; done
exec "$5" draw 2>"$6"
"""


def own_daemon_hook(criu, daemon, wd):
    rt = os.path.join(wd, "own-rt")
    kmsg = os.path.join(wd, "own-kmsg")
    open(kmsg, "w").close()
    command = ["sh", "-c", OWN_DAEMON, SNAPSAFED, rt, kmsg, os.path.join(wd, "own.log"),
               SNAPSAFECTL, DRAW_WOF, os.path.join(wd, "client.err")]
    # The daemon holds a flock on its page: CRIU dumps and restores it only when asked.
    memory, orig, images, inodes = checkpoint(criu, rt, command, "draw", wd, ["--file-locks"])
    if memory != "M wipeonfork":
        raise Fail(f"the client's engine state is '{memory}', expected wipeonfork")
    assert_engine(orig, "the original")
    gen0 = orig[-1]["generation"]
    (clone,) = restore(criu, daemon, images, inodes, HOOK, ["a"], wd, rt=rt,
                       options=["--file-locks"])
    draws = [parse_draw(clone.lines.next()) for _ in range(AFTER)]
    assert_engine(draws, "the clone")
    fresh_first_draws(orig, {"a": draws}, gen0)
    if repeats(orig, draws):
        raise Fail(f"the clone repeats {repeats(orig, draws)} of the original's outputs")
    # The restored daemon, running again, was asked at post-resume to publish the raise.
    status = Daemon.request_at(os.path.join(rt, "control.sock"), "STATUS")
    fields = dict(w.split("=", 1) for w in status.split()[1:] if "=" in w)
    if int(fields["generation"]) != gen0 + 1 or fields.get("raise_notifier") != "control":
        raise Fail(f"the restored daemon says {status!r}: expected generation {gen0 + 1}, "
                   "raised by control")
    print(f"own daemon: generation {gen0} at the checkpoint, the clone's first draw at "
          f"{draws[0]['generation']} from seed {draws[0]['reseeds']}; the restored daemon "
          f"publishes {fields['generation']}")
    clone.finish()


CASES = {
    "wipeonfork-no-hook-repeats": wipeonfork_no_hook_repeats,
    "wipeonfork-hook-never-repeats": wipeonfork_hook_never_repeats,
    "droppable-no-hook": droppable_no_hook,
    "watcher-sees-restore": watcher_sees_restore,
    "hook-refuses-without-daemon": hook_refuses_without_daemon,
    "own-daemon-hook": own_daemon_hook,
}


def main():
    if CASE not in CASES:
        raise SystemExit(f"unknown case {CASE}; one of {', '.join(CASES)}")
    if os.geteuid() != 0:
        raise Fail("the criu suite needs root (CRIU dumps and restores process trees)")
    fetched = subprocess.run([FETCH], capture_output=True, text=True, timeout=600)
    if fetched.returncode != 0:
        raise Fail(f"CRIU 4.2.1 is not usable here:\n{fetched.stderr}")
    become_subreaper()
    wd = workdir()
    criu = Criu(fetched.stdout.split("\n")[:-1], wd)
    daemon = Daemon(SNAPSAFED, SNAPSAFECTL, wd)
    try:
        CASES[CASE](criu, daemon, wd)
    finally:
        daemon.stop()
        for pid in started:     # a failed case may leave a tree running: end it
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    cleanup(wd)
    print(f"ok: {CASE}")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
