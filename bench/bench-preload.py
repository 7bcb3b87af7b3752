#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python's os.urandom(16) and uuid.uuid4() with and without libsnapsafe-preload.so, in one run.

Usage: bench-preload.py SHIM [--python PYTHON] [--quick]

Each configuration is a fresh python3 process: without the shim (glibc's getrandom, the
system call), and with it under SNAPSAFE_ENGINE=auto (no daemon or no VM notifier: the kernel
serves, through the vDSO where it has one), always (the engine serves, as with a daemon whose
notifiers see VM snapshots) and never. Each figure is the best of 7 repeats of a timeit loop,
in nanoseconds per call; the configurations alternate repeat by repeat, so that a busy
machine slows all of them alike. Nothing here is a pass/fail assertion.
"""
import argparse
import os
import subprocess
import sys

STMTS = ("os.urandom(16)", "uuid.uuid4()")

# Runs in the measured process: prints one line per statement, "<stmt>\t<ns per call>".
PROBE = r"""
import os, sys, timeit, uuid
number = int(sys.argv[1])
maps = open("/proc/self/maps").read()
print("shim\t" + ("yes" if "libsnapsafe-preload" in maps else "no"))
for stmt in %r:
    t = timeit.timeit(stmt, setup="import os, uuid", number=number)
    print(stmt + "\t" + repr(t / number * 1e9))
""" % (STMTS,)


def measure(python, shim, engine, number):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SNAPSAFE_ENGINE", None)
    if shim:
        env["LD_PRELOAD"] = shim
    if engine:
        env["SNAPSAFE_ENGINE"] = engine
    out = subprocess.run([python, "-c", PROBE, str(number)], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    fields = dict(line.split("\t") for line in out.splitlines())
    if fields.pop("shim") != ("yes" if shim else "no"):
        raise SystemExit(f"the shim is {'not ' if shim else ''}loaded where it should "
                         f"{'' if shim else 'not '}be")
    return {k: float(v) for k, v in fields.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shim", help="path of libsnapsafe-preload.so")
    ap.add_argument("--python", default=sys.executable, help="the Python to measure")
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    args = ap.parse_args()
    if not os.path.exists(args.shim):
        raise SystemExit(f"{args.shim}: no such file")

    number = 20000 if args.quick else 200000
    repeats = 3 if args.quick else 7
    configs = [("without the shim", None, None),
               ("shim, SNAPSAFE_ENGINE=auto (no daemon)", args.shim, "auto"),
               ("shim, SNAPSAFE_ENGINE=always", args.shim, "always"),
               ("shim, SNAPSAFE_ENGINE=never", args.shim, "never")]
    best = {name: {s: float("inf") for s in STMTS} for name, _, _ in configs}
    for _ in range(repeats):
        for name, shim, engine in configs:
            for stmt, ns in measure(args.python, shim, engine, number).items():
                best[name][stmt] = min(best[name][stmt], ns)

    base = best[configs[0][0]]
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    print(f"{args.python} (Python {version}), shim {args.shim}")
    print(f"best of {repeats} x {number} calls, ns per call (speed-up against no shim)")
    print(f"{'':42}" + "".join(f"{s:>24}" for s in STMTS))
    for name, _, _ in configs:
        cells = "".join(f"{best[name][s]:>14.0f} ns ({base[s] / best[name][s]:4.1f}x)"
                        for s in STMTS)
        print(f"{name:42}{cells}")


if __name__ == "__main__":
    main()
