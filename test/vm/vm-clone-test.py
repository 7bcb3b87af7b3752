#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vm-clone-test: snapsafe inside real VM clones (issue 4; docs/vm-clones.md).

Boots a Debian guest kernel under QEMU with snapsafed (vmfork-kmsg notifier) and guest-client
(libsnapsafe, default policy), snapshots it while the client draws, and restores clones:

  vmfork scenario   two clones with new vmgenid GUIDs: the generation rises, the watcher sees and
                    acks it, every string drawn after the rise differs between the clones and from
                    all drawn before the snapshot. Two clones with the original GUID (negative
                    control): no rise, and their first draws after the resume are identical.
  control scenario  `snapsafectl quiesce` before the snapshot (the engine stops serving); in each
                    clone the host sends `snapsafectl resume` through the agent's serial port,
                    `wait-watchers` returns, and the draws after the resume differ.

Per clone it measures the window from the resume to the rise and to the watcher seeing it.
Exit 0 pass, 1 fail (every guest's console is printed), 77 when QEMU cannot run (1 under CI=true).
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
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
from vmlib import VmError  # noqa: E402

RUNTIME = '/run/snapsafe'
CTL = 'snapsafectl --runtime-dir ' + RUNTIME
DRAW_RX = re.compile(r'^DRAW seq=(\d+) gen=(\d+)(?:-(\d+))? engine=([01]) mono=(\d+) real=(\d+) '
                     r'bytes=([0-9a-f]+)')
EVENT_RX = re.compile(r'^(RISE|SEEN|ACKED) gen=(\d+)(?: rc=(-?\d+))? mono=(\d+)(?: bytes=([0-9a-f]+))?')

# What each guest kernel gives the library: (policy, state memory, kernel reseed path).
EXPECTED_PATHS = {'6.1': ('auto', 'wipeonfork', 'syscall'), '6.12': ('auto', 'droppable', 'vdso')}

guests = []          # every Guest started, for the failure dump
results = {}         # printed at the end and by tools/vm-clone-demo


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)
    vmlib.log('ok: ' + msg)


# ---- guest programs ---------------------------------------------------------------------------

def build_guest_programs(args):
    """Paths of the static guest programs: from the command line (meson built them), else
    from a nested unsanitized build of this tree (sanitizer builds cannot link statically)."""
    progs = {'agent': args.agent, 'client': args.client, 'snapsafed': args.snapsafed,
             'snapsafectl': args.snapsafectl}
    if all(progs.values()):
        return progs
    src = vmlib.source_root()
    build = os.environ.get('SNAPSAFE_BUILD_ROOT') or os.path.join(src, 'build')
    nested = os.path.join(build, 'vm-guest-static')
    vmlib.log('building the static guest programs in %s' % nested)
    if not os.path.exists(os.path.join(nested, 'build.ninja')):
        subprocess.run(['meson', 'setup', nested, src, '-Db_sanitize=none', '-Dbench=disabled',
                        '-Dfuzzers=false', '-Dtests=true', '-Dsystemd=disabled'],
                       check=True, stdout=subprocess.DEVNULL)
    targets = ['vm-guest-agent', 'vm-guest-client', 'vm-snapsafed', 'vm-snapsafectl']
    subprocess.run(['meson', 'compile', '-C', nested] + targets, check=True,
                   stdout=subprocess.DEVNULL)
    return {k: os.path.join(nested, 'test', 'vm', t) for k, t in
            zip(['agent', 'client', 'snapsafed', 'snapsafectl'], targets)}


def make_initramfs(progs, out):
    ird = vmlib.base_initramfs(progs['agent'])
    ird.add_file('/bin/snapsafed', progs['snapsafed'], 0o755)
    ird.add_file('/bin/snapsafectl', progs['snapsafectl'], 0o755)
    ird.add_file('/bin/guest-client', progs['client'], 0o755)
    return ird.write(out)


# ---- reading the client's lines ---------------------------------------------------------------

def draws(guest, since=0):
    """The client's DRAW lines: dicts with seq, gen (None when it changed during the draw),
    engine, mono, bytes, host_ns."""
    out = []
    for host_ns, line in guest.console_lines(since=since):
        m = DRAW_RX.match(line)
        if m:
            out.append({'seq': int(m.group(1)), 'gen': None if m.group(3) else int(m.group(2)),
                        'engine': int(m.group(4)), 'mono': int(m.group(5)),
                        'bytes': m.group(7), 'host_ns': host_ns})
    return out


def events(guest, kind, since=0):
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


def wait_draws(guest, n, pred=lambda d: True, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        got = [d for d in draws(guest) if pred(d)]
        if len(got) >= n:
            return got
        if time.monotonic() > deadline:
            raise VmError('%s: fewer than %d matching draws in %d s' % (guest.name, n, timeout))
        time.sleep(0.1)


# ---- the original guest -----------------------------------------------------------------------

def boot_and_start(work, name, kernel, initrd):
    g = vmlib.Guest(work, name, kernel, initrd)
    guests.append(g)
    t0 = time.monotonic()
    g.start()
    g.wait_booted()
    vmlib.log('%s: booted %s in %.1f s' % (name, kernel.release, time.monotonic() - t0))
    g.run('snapsafed --runtime-dir %s >/tmp/snapsafed.log 2>&1 &' % RUNTIME)
    g.run('i=0; while [ ! -S %s/control.sock ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; '
          'sleep 0.1; done' % RUNTIME)
    # The client's lines go to the console, where the host stamps their arrival.
    g.run('SNAPSAFE_RUNTIME_DIR=%s guest-client 20 >/dev/ttyS0 2>&1 &' % RUNTIME)
    g.wait_console(r'^WATCHING gen=', timeout=60)
    return g


# ---- clones -----------------------------------------------------------------------------------

def restore_clones(work, kernel, initrd, snap, specs):
    """Start clones (name, guid) from snap, all loaded before any resumes, then resume them
    together (each its own QEMU on its own core where there is one)."""
    clones = []
    for name, guid in specs:
        c = vmlib.Guest(work, name, kernel, initrd, guid=guid, incoming=snap)
        guests.append(c)
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


def window(clone, rise, seen):
    """The window after a resume, in ms: host view (QMP RESUME event -> console line arrival,
    an upper bound that includes the serial output) and guest view (the agent's resume mark
    -> the client's CLOCK_MONOTONIC stamps)."""
    resume_ns = clone.resume_event['qemu_ns']
    return {
        'host_rise_ms': (rise['host_ns'] - resume_ns) / 1e6,
        'host_seen_ms': (seen['host_ns'] - resume_ns) / 1e6,
        'guest_rise_ms': (rise['mono'] - clone.mark['mono']) / 1e6,
        'guest_seen_ms': (seen['mono'] - clone.mark['mono']) / 1e6,
        'host_mark_ms': (clone.mark['host_ns'] - resume_ns) / 1e6,
    }


def wait_rise(c, min_gen, timeout=60):
    """Wait until the client's watcher has seen and acked a generation >= min_gen."""
    deadline = time.monotonic() + timeout
    while True:
        acked = [e for e in events(c, 'ACKED') if e['gen'] >= min_gen and e['rc'] == 0]
        if acked:
            return acked[0]['gen']
        if time.monotonic() > deadline:
            raise VmError('%s: no ack of a generation >= %d' % (c.name, min_gen))
        time.sleep(0.1)


# ---- scenario 1: vmgenid ----------------------------------------------------------------------

def scenario_vmfork(work, kernel, initrd):
    res = results.setdefault('vmfork', {})
    g = boot_and_start(work, 'orig', kernel, initrd)
    st = status(g)
    check(st['notifiers'].get('vmfork-kmsg') is True,
          'orig: the vmfork-kmsg notifier is live (%s)' % st['notifiers'])
    _, _, m = g.wait_console(r'^PATHS policy=(\S+) memory=(\S+) reseed=(\S+)')
    res['paths'] = m.group(0)
    want = EXPECTED_PATHS[kernel.name]
    check((m.group(1), m.group(2), m.group(3)) == want,
          'orig: the client runs policy %s, state memory %s, reseed %s' % want)
    pre_draws = wait_draws(g, 10)
    check(all(d['engine'] == 1 for d in pre_draws[-5:]),
          'orig: the engine serves in the default policy (a VM notifier is live)')
    gen0 = st['generation']
    snap = os.path.join(work, 'vmfork.snap')
    secs = g.snapshot(snap)
    vmlib.log('orig: snapshot in %.2f s, %d MB' % (secs, os.path.getsize(snap) >> 20))
    before = {d['bytes'] for d in draws(g)} | {e['bytes'] for e in events(g, 'SEEN')}
    g.stop()
    check(len(before) >= 10, 'orig: %d distinct strings drawn before the snapshot' % len(before))

    new = restore_clones(work, kernel, initrd, snap,
                         [('new1', str(uuid.uuid4())), ('new2', str(uuid.uuid4()))])
    after = {}
    for c in new:
        gen = wait_rise(c, gen0 + 1)
        check(gen > gen0, '%s: the generation rose %d -> %d' % (c.name, gen0, gen))
        rise = [e for e in events(c, 'RISE') if e['gen'] == gen]
        seen = [e for e in events(c, 'SEEN') if e['gen'] == gen]
        check(rise and seen, '%s: the client saw the rise (futex) and the watcher read it'
              % c.name)
        wait_draws(c, 10, lambda d, gen=gen: d['gen'] == gen)
        st = status(c)
        check(st['generation'] == gen and st['outdated'] == 0,
              '%s: status generation %d, outdated %d' % (c.name, st['generation'],
                                                         st['outdated']))
        c.run(CTL + ' wait-watchers --timeout 10000')
        _, kmsg = c.run('dmesg | grep "virtual machine fork"', check=False)
        post = [d for d in draws(c) if d['gen'] == gen] + seen
        in_window = [d for d in draws(c) if d['gen'] == gen0]
        after[c.name] = {d['bytes'] for d in post}
        w = window(c, rise[0], seen[0])
        w.update({'gen': gen, 'draws_after_rise': len(post), 'draws_in_window': len(in_window),
                  'window_bytes': [d['bytes'] for d in in_window], 'kmsg': kmsg.strip()})
        res[c.name] = w
        vmlib.log('%s: window rise %.1f ms, seen %.1f ms (host); %.1f / %.1f ms from the '
                  'guest resume mark; %d draws in the window' % (
                      c.name, w['host_rise_ms'], w['host_seen_ms'], w['guest_rise_ms'],
                      w['guest_seen_ms'], len(in_window)))
    for name, strings in after.items():
        check(not (strings & before), '%s: none of %d strings drawn after the rise was drawn '
              'before the snapshot' % (name, len(strings)))
    check(not (after['new1'] & after['new2']),
          'new1/new2: no string drawn after the rise is shared by the two clones')
    # What the window let through: draws between the resume and the rise, compared.
    shared = set(res['new1']['window_bytes']) & set(res['new2']['window_bytes'])
    res['window_shared'] = len(shared)
    for c in new:
        c.stop()

    same = restore_clones(work, kernel, initrd, snap, [('same1', g.guid), ('same2', g.guid)])
    firsts = {}
    for c in same:
        wait_draws(c, 10)
        st = status(c)
        check(st['generation'] == gen0, '%s: same GUID, the generation stays %d' % (
            c.name, gen0))
        check(not events(c, 'RISE') and not events(c, 'SEEN'),
              '%s: same GUID, the client saw no rise' % c.name)
        firsts[c.name] = {d['seq']: d['bytes'] for d in draws(c)}
        c.stop()
    seqs = sorted(set(firsts['same1']) & set(firsts['same2']))
    check(seqs, 'same1/same2: common draws after the resume')
    identical = [s for s in seqs if firsts['same1'][s] == firsts['same2'][s]]
    res['same_identical'] = '%d of %d' % (len(identical), len(seqs))
    check(seqs[0] in identical, 'same1/same2 (negative control): the first draw after the '
          'resume is identical in both clones (%s), %s common draws identical' % (
              firsts['same1'][seqs[0]], res['same_identical']))
    os.unlink(snap)


# ---- scenario 2: the control plane (quiesce / resume) -----------------------------------------

def scenario_control(work, kernel, initrd):
    res = results.setdefault('control', {})
    g = boot_and_start(work, 'qorig', kernel, initrd)
    wait_draws(g, 5)
    g.run(CTL + ' quiesce')
    st = status(g)
    check(st['quiesced'] is True, 'qorig: status says quiesced after snapsafectl quiesce')
    n = len(draws(g))
    wait_draws(g, n + 3)
    check(all(d['engine'] == 0 for d in draws(g)[n + 1:]),
          'qorig: the engine stopped serving while quiesced (engine=0)')
    gen0 = st['generation']
    snap = os.path.join(work, 'control.snap')
    g.snapshot(snap)
    before = {d['bytes'] for d in draws(g)} | {e['bytes'] for e in events(g, 'SEEN')}
    g.stop()

    clones = restore_clones(work, kernel, initrd, snap,
                            [('ctl1', str(uuid.uuid4())), ('ctl2', str(uuid.uuid4()))])
    after = {}
    for c in clones:
        # The control plane's resume, sent through the agent's serial port (ttyS1).
        _, out = c.run(CTL + ' resume --json')
        st = status(c)
        check(st['quiesced'] is False and st['generation'] > gen0,
              '%s: after resume: quiesced %s, generation %d > %d' % (
                  c.name, st['quiesced'], st['generation'], gen0))
        gen = st['generation']
        c.run(CTL + ' wait-watchers --timeout 10000')
        check(any(e['gen'] == gen and e['rc'] == 0 for e in events(c, 'ACKED')),
              '%s: wait-watchers returned and the client acked generation %d' % (c.name, gen))
        post = wait_draws(c, 10, lambda d, gen=gen: d['gen'] == gen and d['engine'] == 1)
        after[c.name] = {d['bytes'] for d in post}
        res[c.name] = {'gen': gen, 'draws_after_resume': len(post)}
    for name, strings in after.items():
        check(not (strings & before), '%s: nothing drawn after resume was drawn before the '
              'snapshot' % name)
    check(not (after['ctl1'] & after['ctl2']),
          'ctl1/ctl2: no string drawn after resume is shared by the two clones')
    for c in clones:
        c.stop()
    os.unlink(snap)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--kernel', default='6.12', choices=sorted(vmlib.KERNELS))
    ap.add_argument('--agent')
    ap.add_argument('--client')
    ap.add_argument('--snapsafed')
    ap.add_argument('--snapsafectl')
    ap.add_argument('--workdir', help='keep logs here (default: a folder in the build tree)')
    ap.add_argument('--scenario', choices=['all', 'vmfork', 'control'], default='all')
    ap.add_argument('--json', help='write the measurements to this file')
    args = ap.parse_args()

    try:
        vmlib.ensure_host_tools()
    except vmlib.VmSkip as e:
        vmlib.skip_or_fail(str(e))
    work = args.workdir or os.path.join(os.environ.get('SNAPSAFE_BUILD_ROOT', '.'), 'test', 'vm',
                                        'work-' + args.kernel)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ok = False
    try:
        kernel = vmlib.fetch_kernel(args.kernel)
        progs = build_guest_programs(args)
        initrd = make_initramfs(progs, os.path.join(work, 'initrd.cpio'))
        results['kernel'] = kernel.release
        t0 = time.monotonic()
        if args.scenario in ('all', 'vmfork'):
            scenario_vmfork(work, kernel, initrd)
        if args.scenario in ('all', 'control'):
            scenario_control(work, kernel, initrd)
        results['seconds'] = round(time.monotonic() - t0, 1)
        ok = True
    except (TestFailure, VmError, subprocess.CalledProcessError) as e:
        print('FAIL: %s' % e, file=sys.stderr)
        for g in guests:
            if g.proc and g.proc.poll() is None and g.ctl:
                try:
                    _, log = g.run('cat /tmp/snapsafed.log; dmesg | tail -30', timeout=10,
                                   check=False)
                    print('----- %s: snapsafed log, dmesg -----\n%s' % (g.name, log),
                          file=sys.stderr)
                except VmError:
                    pass
            g.dump()
    finally:
        for g in guests:
            g.stop()
    print(json.dumps(results, indent=1, default=str))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1, default=str)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
