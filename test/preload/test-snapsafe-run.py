#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""snapsafe-run end to end, with python3 as the unmodified program.

Usage: test-snapsafe-run.py RUN RUN_OBSERVED
RUN is snapsafe-run configured with the shim as built, RUN_OBSERVED with the observed variant
(test/preload/observe.c), whose peek shows the bytes the engine will serve next: CPython's
os.urandom() and uuid.uuid4() (getrandom(2) through glibc) must return exactly those. Also the
command line: --help, --version, usage errors (125), a command not found (127) or not
executable (126), the program's own exit status, signal and pid (it is exec'd), LD_PRELOAD
appended to once, and --check on a process with and without the shim.
PRELOAD_TEST_FIRST, when set, is what LD_PRELOAD holds before snapsafe-run appends to it (the
sanitizer runtime in an ASan build).
"""
import os
import signal
import subprocess
import sys
import tempfile

RUN, RUN_OBSERVED = sys.argv[1:3]
FIRST = os.environ.get("PRELOAD_TEST_FIRST", "")
PY = sys.executable
TIMEOUT = 60
failures = 0


def shim_of(runner):
    for line in open(runner):
        if line.startswith("lib='"):
            return line.strip()[len("lib='"):-1]
    raise SystemExit(f"{runner}: no lib= line")


SHIM = shim_of(RUN)
SHIM_OBSERVED = shim_of(RUN_OBSERVED)


def env(preload=None, **extra):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    e.pop("SNAPSAFE_ENGINE", None)
    parts = [p for p in (FIRST, preload) if p]
    if parts:
        e["LD_PRELOAD"] = ":".join(parts)
    e.update(extra)
    return e


def run(args, **kw):
    kw.setdefault("env", env())
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def check(cond, what, result=None):
    global failures
    if cond:
        print(f"ok: {what}")
        return
    failures += 1
    print(f"FAIL: {what}")
    if result is not None:
        print(f"  exit {result.returncode}\n  stdout: {result.stdout!r}\n  stderr: {result.stderr!r}")


def test_help_and_version():
    r = run([RUN, "--help"])
    check(r.returncode == 0 and "Usage: snapsafe-run" in r.stdout and SHIM in r.stdout,
          "--help prints the usage and the shim's path", r)
    r = run([RUN, "--version"])
    check(r.returncode == 0 and r.stdout.startswith("snapsafe-run "), "--version", r)


def test_usage_errors():
    for args, says in (([], "no command given"), (["--bogus"], "unknown option '--bogus'"),
                       (["--check"], "--check takes exactly one process id"),
                       (["--check", "x1"], "needs a process id")):
        r = run([RUN] + args)
        check(r.returncode == 125 and says in r.stderr and "--help" in r.stderr,
              f"{args}: exit 125, '{says}'", r)


def test_command_errors():
    r = run([RUN, "no-such-command-for-snapsafe"])
    check(r.returncode == 127 and "no-such-command-for-snapsafe: command not found" in r.stderr,
          "a command not in PATH: 127", r)
    r = run([RUN, "/nonexistent/program"])
    check(r.returncode == 127 and "command not found" in r.stderr, "a missing path: 127", r)
    with tempfile.TemporaryDirectory() as d:
        plain = os.path.join(d, "plain")
        with open(plain, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        r = run([RUN, plain])
        check(r.returncode == 126 and "not an executable file" in r.stderr,
              "a file without x permission: 126", r)
        r = run([RUN, d])
        check(r.returncode == 126, "a directory: 126", r)
        # The same script pointed at a shim that is not there.
        broken = os.path.join(d, "snapsafe-run-broken")
        with open(RUN) as src, open(broken, "w") as dst:
            dst.write(src.read().replace(f"lib='{SHIM}'", "lib='/nonexistent/libsnapsafe-preload.so'"))
        os.chmod(broken, 0o755)
        r = run([broken, "true"])
        check(r.returncode == 125 and "/nonexistent/libsnapsafe-preload.so: no such file" in r.stderr,
              "no shim: 125, naming the file", r)


def test_exec_keeps_status_signal_and_pid():
    r = run([RUN, "sh", "-c", "exit 7"])
    check(r.returncode == 7, "the program's exit status", r)
    r = run([RUN, "sh", "-c", "kill -TERM $$"])
    check(r.returncode == -signal.SIGTERM, "the program's signal", r)
    p = subprocess.Popen([RUN, "sh", "-c", "echo $$"], stdout=subprocess.PIPE, text=True, env=env())
    out, _ = p.communicate(timeout=TIMEOUT)
    check(out.strip() == str(p.pid), "exec'd: the program has snapsafe-run's pid")
    r = run([RUN, "--", "sh", "-c", "exit 3"])
    check(r.returncode == 3, "-- before the command", r)


def test_ld_preload_appended_once():
    show = [PY, "-c", "import os; print(os.environ['LD_PRELOAD'])"]
    base = FIRST
    r = run([RUN] + show)
    want = ":".join(p for p in (base, SHIM) if p)
    check(r.returncode == 0 and r.stdout.strip() == want, f"LD_PRELOAD set to {want!r}", r)
    other = ":".join(p for p in (base, "libm.so.6") if p)
    r = run([RUN] + show, env=dict(env(), LD_PRELOAD=other))
    check(r.returncode == 0 and r.stdout.strip() == f"{other}:{SHIM}",
          "appended to an LD_PRELOAD already set", r)
    already = f"{other} {SHIM}"
    r = run([RUN] + show, env=dict(env(), LD_PRELOAD=already))
    check(r.returncode == 0 and r.stdout.strip() == already, "not appended twice", r)


def test_check():
    p = subprocess.Popen([RUN, PY, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env())
    try:
        check(p.stdout.readline().strip() == "up", "a program started under snapsafe-run")
        r = run([RUN, "--check", str(p.pid)])
        check(r.returncode == 0 and f"{p.pid}: libsnapsafe-preload is loaded ({SHIM})" in r.stdout,
              "--check on it: loaded", r)
    finally:
        p.stdin.close()
        p.wait(timeout=TIMEOUT)
    r = run([RUN, "--check", str(os.getpid())])
    check(r.returncode == 1 and "is not loaded" in r.stdout, "--check on a process without it: 1", r)
    r = run([RUN, "--check", "999999999"])
    check(r.returncode == 125 and "no process 999999999" in r.stderr, "--check on no process: 125", r)


# Runs in python3 under RUN_OBSERVED with SNAPSAFE_ENGINE=always.
ENGINE_PROOF = r"""
import ctypes, os, subprocess, sys, uuid

maps = open("/proc/self/maps").read()
assert "libsnapsafe-preload-observed.so" in maps, "the shim is not mapped"
peek = ctypes.CDLL(None).preload_observe_peek
peek.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def next_bytes(n):
    buf = ctypes.create_string_buffer(n)
    for _ in range(200):
        if peek(buf, n) == 0:
            return buf.raw
        os.urandom(16)
    sys.exit(f"the engine never held {n} unserved bytes")


want = next_bytes(16)
assert os.urandom(16) == want, "os.urandom(16) did not return the engine's bytes"
want = next_bytes(64)
assert os.urandom(64) == want, "os.urandom(64) did not return the engine's bytes"
# uuid4: the engine's 16 bytes with the version and variant bits set.
want = bytearray(next_bytes(16))
want[6] = (want[6] & 0x0F) | 0x40
want[8] = (want[8] & 0x3F) | 0x80
assert uuid.uuid4().bytes == bytes(want), "uuid.uuid4() was not made from the engine's bytes"
# subprocess forks with vfork() in CPython: the engine's next bytes stay where they were.
want = next_bytes(16)
subprocess.run(["true"], check=True)
assert os.urandom(16) == want, "the engine's state moved across subprocess.run()"
print("engine served os.urandom and uuid4")
"""


def test_python_served_by_the_engine():
    r = run([RUN_OBSERVED, PY, "-c", ENGINE_PROOF], env=env(SNAPSAFE_ENGINE="always"))
    check(r.returncode == 0 and "engine served" in r.stdout,
          "python3 under snapsafe-run: os.urandom and uuid4 are the engine's bytes", r)


def test_python_with_the_shim_as_built():
    code = ("import os, uuid; a = os.urandom(16); b = os.urandom(16); assert a != b; uuid.uuid4(); "
            "assert any('libsnapsafe-preload.so' in l for l in open('/proc/self/maps')); print('ok')")
    for engine in ("auto", "always", "never"):
        r = run([RUN, PY, "-c", code], env=env(SNAPSAFE_ENGINE=engine))
        check(r.returncode == 0 and r.stdout.strip() == "ok" and r.stderr == "",
              f"python3 -c 'import os; os.urandom(16)' under snapsafe-run, SNAPSAFE_ENGINE={engine}", r)


for test in (test_help_and_version, test_usage_errors, test_command_errors,
             test_exec_keeps_status_signal_and_pid, test_ld_preload_appended_once, test_check,
             test_python_served_by_the_engine, test_python_with_the_shim_as_built):
    print(f"== {test.__name__}")
    test()
sys.exit(1 if failures else 0)
