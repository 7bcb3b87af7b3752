# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmscenario: the snapsafe half of the VM tests, shared by the scenario scripts.

vmlib.py knows QEMU and guests but not snapsafe; this module knows what snapsafe runs in a
guest and how to read it: the static guest programs, the initramfs with them, snapsafed and
guest-client started in a booted guest, the client's console lines (DRAW, RISE, SEEN, ACKED),
clones restored together, the window after a resume, and the run itself (a Session: the
guests to dump on failure and stop at the end, the results printed as JSON). Used by
test/vm/vm-clone-test.py (the daemon's vmfork-kmsg notifier and the quiesce/resume protocol),
test/vm/vm-retrofit-test.py (programs not written for snapsafe) and test/kmod/kmod-test.py
(the sysgenid kernel module); docs/vm-clones.md describes the scenarios.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import vmlib
from vmlib import VmError

RUNTIME = '/run/snapsafe'
CTL = 'snapsafectl --runtime-dir ' + RUNTIME
DRAW_RX = re.compile(r'^DRAW seq=(\d+) gen=(\d+)(?:-(\d+))? engine=([01]) mono=(\d+) real=(\d+) '
                     r'bytes=([0-9a-f]+)(?: kgen=(\d+)(?:-(\d+))?)?')
EVENT_RX = re.compile(r'^(RISE|SEEN|ACKED) gen=(\d+)(?: rc=(-?\d+))? mono=(\d+)'
                      r'(?: bytes=([0-9a-f]+))?')

# The guest programs: key, meson target, default command line option.
PROGRAMS = {'agent': 'vm-guest-agent', 'client': 'vm-guest-client',
            'snapsafed': 'vm-snapsafed', 'snapsafectl': 'vm-snapsafectl'}


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)
    vmlib.log('ok: ' + msg)


# ---- guest programs and the initramfs ---------------------------------------------------------

def add_program_args(ap, keys=PROGRAMS):
    """The command line options that name the static guest programs (meson passes them)."""
    for key in keys:
        ap.add_argument('--' + key.replace('_', '-'), dest=key)


def build_guest_programs(args, extra=None):
    """Paths of the static guest programs: from the command line (meson built them), else
    from a nested unsanitized build of this tree (sanitizer builds cannot link statically).
    extra: more {key: (meson target, its folder in the build tree[, its file name])} to build
    the same way; the file name defaults to the target's name."""
    targets = {k: (t, 'test/vm') for k, t in PROGRAMS.items()}
    targets.update(extra or {})
    progs = {k: getattr(args, k, None) for k in targets}
    if all(progs.values()):
        return progs
    src = vmlib.source_root()
    build = os.environ.get('SNAPSAFE_BUILD_ROOT') or os.path.join(src, 'build')
    nested = os.path.join(build, 'vm-guest-static')
    vmlib.log('building the static guest programs in %s' % nested)
    # The scripts of both kernels and both suites run in parallel: one build at a time.
    os.makedirs(build, exist_ok=True)
    with vmlib.FileLock(os.path.join(build, '.vm-guest-static.lock'), 'the guest programs'):
        if not os.path.exists(os.path.join(nested, 'build.ninja')):
            shutil.rmtree(nested, ignore_errors=True)   # a setup that was interrupted
            subprocess.run(['meson', 'setup', nested, src, '-Db_sanitize=none',
                            '-Dbench=disabled', '-Dfuzzers=false', '-Dtests=true',
                            '-Dvm_tests=true', '-Dsystemd=disabled'],
                           check=True, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(['meson', 'compile', '-C', nested] + [t[0] for t in targets.values()],
                       check=True, stdout=subprocess.DEVNULL, timeout=1800)
    return {k: os.path.join(nested, t[1], t[2] if len(t) > 2 else t[0])
            for k, t in targets.items()}


def initramfs(progs):
    """An Initramfs (vmlib) with busybox, the agent, snapsafed, snapsafectl and guest-client;
    add more, then write()."""
    ird = vmlib.base_initramfs(progs['agent'])
    ird.add_file('/bin/snapsafed', progs['snapsafed'], 0o755)
    ird.add_file('/bin/snapsafectl', progs['snapsafectl'], 0o755)
    ird.add_file('/bin/guest-client', progs['client'], 0o755)
    return ird


def make_initramfs(progs, out, extra_files=()):
    """initramfs(), and (guest path, host path, mode) for anything else, written to out."""
    ird = initramfs(progs)
    for guest_path, host_path, mode in extra_files:
        ird.add_file(guest_path, host_path, mode)
    return ird.write(out)


# ---- reading the client's lines ---------------------------------------------------------------

def draws(guest, since=0):
    """The client's DRAW lines on the console: see parse_draws()."""
    return parse_draws(guest.console_lines(since=since))


def parse_draws(lines):
    """DRAW lines from [(host_ns, line)]: dicts with seq, gen (None when it changed during the
    draw), engine, mono, bytes, host_ns, and kgen (the kernel /dev/sysgenid's generation, None
    when it changed during the draw or there is no device: then 'kdev' is False)."""
    out = []
    for host_ns, line in lines:
        m = DRAW_RX.match(line)
        if m:
            out.append({'seq': int(m.group(1)), 'gen': None if m.group(3) else int(m.group(2)),
                        'engine': int(m.group(4)), 'mono': int(m.group(5)),
                        'bytes': m.group(7), 'host_ns': host_ns,
                        'kdev': m.group(8) is not None,
                        'kgen': None if m.group(9) or m.group(8) is None else int(m.group(8))})
    return out


def events(guest, kind, since=0):
    """The client's RISE, SEEN or ACKED lines: dicts with gen, rc, mono, bytes, host_ns."""
    out = []
    for host_ns, line in guest.console_lines(since=since):
        m = EVENT_RX.match(line)
        if m and m.group(1) == kind:
            out.append({'gen': int(m.group(2)), 'rc': m.group(3) and int(m.group(3)),
                        'mono': int(m.group(4)), 'bytes': m.group(5), 'host_ns': host_ns})
    return out


def status(guest):
    _, out = guest.run(CTL + ' status --json')
    return json.loads(out.strip().splitlines()[-1])


def wait_lines(guest, what, get, timeout):
    """Wait until get() (a list read from the guest's console) is not empty; returns it.
    Woken by each new console line; fails after timeout s, or at once when QEMU exits."""
    deadline = time.monotonic() + timeout
    while True:
        with guest.cond:
            seen = len(guest.console)
        got = get()
        if got:
            return got
        left = deadline - time.monotonic()
        if left <= 0 or guest.proc.poll() is not None:
            raise VmError('%s: %s (%s)' % (guest.name, what, 'QEMU exited' if left > 0 else
                                           'not within %d s' % timeout))
        with guest.cond:
            if len(guest.console) == seen:
                guest.cond.wait(min(left, 1.0))


def wait_draws(guest, n, pred=lambda d: True, timeout=60):
    """At least n of the client's draws matching pred; returns all of those."""
    def get():
        got = [d for d in draws(guest) if pred(d)]
        return got if len(got) >= n else None
    return wait_lines(guest, 'fewer than %d matching draws' % n, get, timeout)


def wait_events(guest, kind, pred=lambda e: True, timeout=60):
    """The client's events of one kind (RISE, SEEN, ACKED) matching pred, once there is one:
    the client's threads print them independently, so one may come after another's."""
    return wait_lines(guest, 'no matching %s line' % kind,
                       lambda: [e for e in events(guest, kind) if pred(e)], timeout)


def wait_rise(c, min_gen, timeout=60):
    """Wait until the client's watcher has seen and acked a generation >= min_gen."""
    return wait_events(c, 'ACKED', lambda e: e['gen'] >= min_gen and e['rc'] == 0,
                       timeout)[0]['gen']


def let_run(guest, n_draws, timeout=60):
    """Wait until the client has drawn n_draws more times (each after a 20 ms sleep): a
    stretch of the guest's own time in which something that must not happen (a raise, a
    blocked call returning) would have had the chance to, however slow the host is."""
    have = len(draws(guest))
    wait_draws(guest, have + n_draws, timeout=timeout)


def daemon_raises(guest, above):
    """The daemon's raises to a generation above `above`, from its log: [(gen, notifier)]."""
    _, out = guest.run('grep "raised by" /tmp/snapsafed.log || true')
    found = re.findall(r'Generation (\d+) \(raised by ([\w-]+)\)', out)
    return [(int(g), n) for g, n in found if int(g) > above]


def ms_since_resume(clone, ev):
    """(host ms, guest ms) from a clone's resume to an event with host_ns and mono: the host
    view runs from QEMU's RESUME event to the line's arrival on the console (an upper bound
    that includes the serial output), the guest view from the agent's resume mark to the
    event's CLOCK_MONOTONIC stamp."""
    return ((ev['host_ns'] - clone.resume_event['qemu_ns']) / 1e6,
            (ev['mono'] - clone.mark['mono']) / 1e6)


def window(clone, rise, seen):
    """The window after a resume, in ms: to the rise of the generation and to the watcher
    seeing it, host and guest views (see ms_since_resume), and the agent's mark itself."""
    host_rise, guest_rise = ms_since_resume(clone, rise)
    host_seen, guest_seen = ms_since_resume(clone, seen)
    return {
        'host_rise_ms': host_rise,
        'host_seen_ms': host_seen,
        'guest_rise_ms': guest_rise,
        'guest_seen_ms': guest_seen,
        'host_mark_ms': (clone.mark['host_ns'] - clone.resume_event['qemu_ns']) / 1e6,
    }


# ---- a run ------------------------------------------------------------------------------------

class Session:
    """One scenario run in a work directory: every guest started (dumped on failure, stopped
    at the end) and the results (printed as JSON at the end, read by tools/vm-clone-demo)."""

    def __init__(self, work):
        self.work = work
        self.guests = []
        self.results = {}

    def guest(self, name, kernel, initrd, **kw):
        g = vmlib.Guest(self.work, name, kernel, initrd, **kw)
        self.guests.append(g)
        return g

    def boot(self, name, kernel, initrd):
        g = self.guest(name, kernel, initrd)
        t0 = time.monotonic()
        g.start()
        g.wait_booted()
        vmlib.log('%s: booted %s in %.1f s' % (name, kernel.release, time.monotonic() - t0))
        return g

    def start_daemon(self, g, daemon_args=''):
        """snapsafed in the guest (log in /tmp/snapsafed.log); returns once it answers."""
        # -v: the daemon logs why it drops a client, for the dump of a failed run.
        g.run('snapsafed -v --runtime-dir %s %s >/tmp/snapsafed.log 2>&1 &' % (
            RUNTIME, daemon_args))
        # Until it answers: its socket takes connections before the page says RUNNING, a
        # request is answered after. Up to 60 s of guest time (a busy host gives it little).
        g.run('i=0; until %s status >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 600 ] && exit 1; '
              'sleep 0.1; done' % CTL, timeout=90)

    def start_snapsafe(self, g, daemon_args='', interval_ms=20):
        """snapsafed in the guest, then guest-client with its lines on the console, where the
        host stamps their arrival; returns when it watches."""
        self.start_daemon(g, daemon_args)
        g.run('SNAPSAFE_RUNTIME_DIR=%s guest-client %d >/dev/ttyS0 2>&1 &' % (
            RUNTIME, interval_ms))
        g.wait_console(r'^WATCHING gen=', timeout=60)

    def boot_and_start(self, name, kernel, initrd, daemon_args=''):
        g = self.boot(name, kernel, initrd)
        self.start_snapsafe(g, daemon_args)
        return g

    def restore_clones(self, kernel, initrd, snap, specs):
        """Start clones (name, guid) from snap, all loaded before any resumes, then resume
        them together (each its own QEMU on its own core where there is one)."""
        clones = []
        for name, guid in specs:
            c = self.guest(name, kernel, initrd, guid=guid, incoming=snap)
            c.start()
            clones.append(c)
        for c in clones:
            c.wait_incoming()
        threads = [threading.Thread(target=c.resume) for c in clones]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clones:
            if c.resume_event is None:
                raise VmError('%s: did not resume' % c.name)
            c.mark = c.wait_mark('resume')
        return clones

    def dump(self):
        for g in self.guests:
            if g.proc and g.proc.poll() is None and g.ctl:
                try:
                    _, log = g.run('cat /tmp/snapsafed.log; echo "-- ps"; ps; '
                                   'echo "-- dmesg"; dmesg | tail -30', timeout=10, check=False)
                    print('----- %s: snapsafed log, processes, dmesg -----\n%s' % (g.name, log),
                          file=sys.stderr)
                except VmError:
                    pass
            g.dump()

    def stop(self):
        for g in self.guests:
            g.stop()


def arg_parser(description):
    """The options every scenario script takes; add its own, then call run()."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('--kernel', default='6.12', choices=sorted(vmlib.KERNELS))
    ap.add_argument('--workdir', help='keep logs here (default: a folder in the build tree)')
    ap.add_argument('--json', help='write the measurements to this file')
    add_program_args(ap)
    return ap


def run(args, body, workname, session_class=None):
    """Run body(session, args) once: 77 when QEMU cannot run (1 under CI=true), 1 with every
    guest's console on a failure, 0 on success; the results are printed either way.
    session_class: a Session whose guests run another QEMU (default: Session)."""
    try:
        vmlib.ensure_host_tools()
    except vmlib.VmSkip as e:
        vmlib.skip_or_fail(str(e))
    work = args.workdir or os.path.join(os.environ.get('SNAPSAFE_BUILD_ROOT', '.'), workname)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    session = (session_class or Session)(work)
    failure = None
    try:
        t0 = time.monotonic()
        body(session, args)
        session.results['seconds'] = round(time.monotonic() - t0, 1)
    except (TestFailure, VmError, subprocess.CalledProcessError,
            subprocess.TimeoutExpired) as e:
        failure = 'FAIL: %s' % e
        print(failure, file=sys.stderr)
        session.dump()
    finally:
        session.stop()
    print(json.dumps(session.results, indent=1, default=str), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(session.results, f, indent=1, default=str)
    if failure:
        # Again as the last line: a test runner that shows only the end of a long log
        # (consoles, results) still shows why.
        print(failure, file=sys.stderr, flush=True)
    return 1 if failure else 0
