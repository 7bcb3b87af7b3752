#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kmod-test: the sysgenid kernel module in real VM clones (kmod/README.md).

Builds kmod/sysgenid.ko for the guest kernel from Debian's header packages (kheaders.sh,
build-module.sh: apt-get download into a cache, nothing installed; W=1, no warnings), and
again with DKMS from kmod/dkms.conf (dkms-build.sh, private DKMS trees), boots the guest of
test/vm with both modules in the initramfs, checks that the DKMS one loads, and proves with
the other:

  unload   rmmod is refused while a mapping or a blocked reader holds the device (the module
           reference count), and works once they are gone; the device then disappears
  abi      sysgenid-test abi: every ABI rule of kmod/README.md, each error code, mmap refusing
           PROT_WRITE, the force ioctls as an unprivileged user (the program drops to nobody)
  clones   snapshot with two sysgenid-test watchers, a monitor (blocking read) and snapsafe
           (snapsafed with its sysgenid notifier, guest-client on libsnapsafe) running:
           - two clones with new vmgenid GUIDs: the module's generation rises exactly once,
             both watchers read it, GET_OUTDATED_WATCHERS counts exactly the two (libsnapsafe's
             own mapping of the device is not a watcher), WAIT_WATCHERS blocks until both
             acknowledge; snapsafed rises, every draw that began after the module's raise
             differs between the clones and from every draw before the snapshot
           - a clone of a clone (new GUID): the generation rises again, the same checks
           - two clones with the original GUID (negative control): nothing rises, and the
             first draws after the resume are identical in both
           snapsafed also runs with --sysgenid-compat /dev/sysgenid: it must leave the
           module's device alone.

Per clone it measures the windows from the resume: to the module's raise (its kernel log
record, and a reader blocked in read()), to snapsafed's raise by each of its notifiers and to
the client's watcher seeing it (test/vm measures the vmfork-kmsg notifier alone); how they are
taken is in docs/vm-clones.md.
Exit 0 pass, 1 fail (every guest's console is printed), 77 when QEMU cannot run (1 under CI=true).
"""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'vm'))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import vmlib  # noqa: E402
import vmscenario as vs  # noqa: E402
from vmlib import VmError  # noqa: E402
from vmscenario import check, draws, events, status, wait_draws  # noqa: E402

KO = '/lib/modules/sysgenid.ko'
KO_DKMS = '/lib/modules/sysgenid-dkms.ko'
ST = 'sysgenid-test'
GO = '/tmp/go%d'            # watcher i acknowledges once GO % i exists
LIBONLY_OUT = '/tmp/libonly.out'
N_WATCHERS = 2
# The module's page through sysgenid-test: a fresh open of the device, closed again.
GEN_RX = re.compile(r'gen=(\d+) outdated_watchers=(-?\d+)')


# ---- building the module ----------------------------------------------------------------------

def dkms_module(kernel, outdir):
    """sysgenid.ko as DKMS builds it from kmod/dkms.conf (dkms-build.sh: private DKMS trees,
    nothing installed), or None when dkms is missing and cannot be installed (a failure under
    CI=true). dkms is installed through tools/deps like QEMU is."""
    if not shutil.which('dkms'):
        subprocess.run([os.path.join(vmlib.source_root(), 'tools', 'deps'), 'dkms'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if not shutil.which('dkms'):
        if vmlib.in_ci():
            raise VmError('dkms is not installed and could not be installed')
        vmlib.log('dkms is not installed: the DKMS build is not checked')
        return None
    r = subprocess.run([os.path.join(HERE, 'dkms-build.sh'), kernel.release, outdir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise VmError('the DKMS build for %s failed:\n%s' % (kernel.release, r.stderr))
    return r.stdout.strip().splitlines()[-1]


def build_module(kernel, outdir):
    """sysgenid.ko for kernel.release, from the cached Debian headers (fetched on first use)."""
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(HERE, 'build-module.sh'), kernel.release, outdir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise VmError('building the module for %s failed:\n%s' % (kernel.release, r.stderr))
    ko = r.stdout.strip().splitlines()[-1]
    vmlib.log('built %s in %.1f s' % (ko, time.monotonic() - t0))
    return ko


# ---- in the guest -----------------------------------------------------------------------------

def module_gen(g):
    """(generation, outdated watchers) of the loaded module."""
    _, out = g.run(ST + ' gen')
    m = GEN_RX.search(out)
    if not m:
        raise VmError('%s: unexpected output of sysgenid-test gen: %r' % (g.name, out))
    return int(m.group(1)), int(m.group(2))


def refcnt(g):
    _, out = g.run('cat /sys/module/sysgenid/refcnt')
    return int(out.strip())


def wait_until(what, fn, ok=bool, timeout=30, interval=0.05):
    """Poll fn() until ok(its value); returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if ok(v):
            return v
        if time.monotonic() > deadline:
            raise VmError('timeout waiting for %s' % what)
        time.sleep(interval)


KLOG_RX = re.compile(r'^\[\s*(\d+)\.(\d{6})\] (.*)$')


def kernel_log(c, kgen):
    """The kernel's own moments in a clone, on the guest's CLOCK_MONOTONIC (the clock of the
    agent's resume mark): the module's raise to kgen and random.c's reseed record of the same
    fork (None when the kernel RNG was not ready and logged nothing). The log stamps records
    with local_clock(); sysgenid-test kmsg-mark logs a record that carries both clocks."""
    _, out = c.run(ST + ' kmsg-mark && dmesg')
    recs = []
    for ln in out.splitlines():
        m = KLOG_RX.match(ln)
        if m:
            recs.append((int(m.group(1)) * 10**9 + int(m.group(2)) * 1000, m.group(3)))
    cal = [(ts, int(m.group(1))) for ts, msg in recs
           for m in [re.search(r'sysgenid-test: mono=(\d+)', msg)] if m]
    if not cal:
        raise VmError('%s: no calibration record in the kernel log' % c.name)
    offset = cal[-1][0] - cal[-1][1]
    raise_ns = [ts - offset for ts, msg in recs
                if re.search(r'sysgenid: generation %d after virtual machine fork' % kgen, msg)]
    if len(raise_ns) != 1:
        raise VmError('%s: %d kernel log records of the raise to %d' % (
            c.name, len(raise_ns), kgen))
    # The reseed record comes just before the notifier chain; an older one is another fork's.
    reseed = [ts - offset for ts, msg in recs
              if 'crng reseeded due to virtual machine fork' in msg and
              abs(ts - offset - raise_ns[0]) < 10**9]
    return raise_ns[0], reseed[-1] if reseed else None


def start_bg(g, name, command):
    """Start command in the guest in the background, its output in /tmp/<name>.out and its
    pid in /tmp/<name>.pid."""
    g.run('%s >/tmp/%s.out 2>&1 & echo $! >/tmp/%s.pid' % (command, name, name))


def kill_bg(g, name):
    g.run('kill -9 $(cat /tmp/%s.pid)' % name)


def bg_output(g, name):
    return g.run('cat /tmp/%s.out' % name, check=False)[1]


def console_lines(g, rx, since=0):
    """Console lines matching rx: [(host_ns, match)]."""
    r = re.compile(rx)
    return [(t, r.match(ln)) for t, ln in g.console_lines(since=since) if r.match(ln)]


# ---- phase 1: load, unload ------------------------------------------------------------------

def phase_unload(s, g):
    res = s.results.setdefault('unload', {})
    check(refcnt(g) == 0, 'the loaded module has no users')
    start_bg(g, 'hold', ST + ' hold')
    wait_until('hold to map the device', lambda: 'holding' in bg_output(g, 'hold'))
    check(refcnt(g) == 1, 'a mapping whose file descriptor was closed holds one reference')
    rc, out = g.run('rmmod sysgenid', check=False)
    res['rmmod_with_mapping'] = out.strip()
    check(rc != 0, 'rmmod is refused while a mapping exists (%s)' % out.strip())
    check(g.run('[ -c /dev/sysgenid ] && grep -q "^sysgenid " /proc/modules', check=False)[0]
          == 0, 'the module and its device are still there')

    start_bg(g, 'mon', ST + ' monitor')
    wait_until('the monitor to start', lambda: 'KMON gen=' in bg_output(g, 'mon'))
    check(refcnt(g) == 2, 'a reader blocked in read() holds a second reference')
    kill_bg(g, 'hold')
    wait_until('the mapping to go', lambda: refcnt(g) == 1)
    rc, out = g.run('rmmod sysgenid', check=False)
    check(rc != 0, 'rmmod is refused while a reader is blocked in read() (%s)' % out.strip())
    gen, _ = module_gen(g)
    g.run(ST + ' force 0')
    wait_until('the monitor to see the raise',
               lambda: 'KRISE gen=%d' % (gen + 1) in bg_output(g, 'mon'))
    check(True, 'the device still works after the refused rmmod: the blocked reader saw the '
          'raise')
    kill_bg(g, 'mon')
    wait_until('the reader to go', lambda: refcnt(g) == 0)
    g.run('rmmod sysgenid')
    check(g.run('[ ! -e /dev/sysgenid ] && [ ! -e /sys/module/sysgenid ]', check=False)[0] == 0,
          'rmmod after the last close works; the device is gone')
    g.run('insmod ' + KO)
    check(module_gen(g) == (0, 0), 'loaded again: generation 0, no outdated watchers')


# ---- phase 2: the ABI -------------------------------------------------------------------------

def phase_abi(s, g):
    t0 = time.monotonic()
    rc, out = g.run(ST + ' abi 2>&1', timeout=300, check=False)
    names = re.findall(r'^== (\w+)', out, re.M)
    s.results['abi'] = {'tests': names, 'seconds': round(time.monotonic() - t0, 1)}
    if rc != 0 or 'ABI-OK' not in out:
        raise vs.TestFailure('sysgenid-test abi failed (rc %d):\n%s' % (rc, out))
    check(len(names) >= 15, 'sysgenid-test abi: all %d ABI tests passed' % len(names))


# ---- phase 3: clones --------------------------------------------------------------------------

def libonly_draws(g):
    """The draws of the second client, which has no daemon (its lines are in a guest file)."""
    _, out = g.run('cat %s' % LIBONLY_OUT)
    return vs.parse_draws((0, ln) for ln in out.splitlines())


def start_clients(s, g):
    """snapsafed (sysgenid notifier, compat asked for at the module's path), guest-client, two
    watchers and the monitor, with their lines on the console; and a second guest-client that
    finds no daemon, whose only generation source is libsnapsafe's own map of the device."""
    s.start_snapsafe(g, '--sysgenid-compat /dev/sysgenid')
    g.run('mkdir -p /run/nodaemon; SNAPSAFE_RUNTIME_DIR=/run/nodaemon guest-client 20 '
          '>%s 2>&1 &' % LIBONLY_OUT)
    for i in range(N_WATCHERS):
        g.run('%s watcher %s >/dev/ttyS0 2>&1 &' % (ST, GO % i))
    g.run('%s monitor >/dev/ttyS0 2>&1 &' % ST)
    g.wait_console(r'^KMON gen=')
    found = wait_until('the watchers',
                       lambda: console_lines(g, r'^KWATCH pid=(\d+) go=(\S+) gen='),
                       lambda r: len(r) == N_WATCHERS)
    # [(go file, pid)] in the order of their go files
    return sorted((m.group(2), int(m.group(1))) for _, m in found)


def clone_checks(s, c, watchers, kgen0, gen0, before, res):
    """The checks in a clone restored with a new GUID from a guest whose module was at kgen0
    and snapsafed at gen0, with watchers [(go file, pid)] current. Returns the strings the
    client and the daemon-less client drew after the module's raise."""
    kgen = kgen0 + 1
    # The module: one raise, seen by the monitor's blocking read and by both watchers.
    _, host_ns, m = c.wait_console(r'^KRISE gen=(\d+) mono=(\d+)', timeout=60)
    krise = {'gen': int(m.group(1)), 'mono': int(m.group(2)), 'host_ns': host_ns}
    check(krise['gen'] == kgen, '%s: the module raised its generation %d -> %d' % (
        c.name, kgen0, krise['gen']))
    wait_until('both watchers to read',
               lambda: console_lines(c, r'^KWATCH pid=\d+ read gen=%d ' % kgen),
               lambda r: len(r) == N_WATCHERS)
    check(True, '%s: both watchers read generation %d' % (c.name, kgen))

    # snapsafed followed; the daemon's file acknowledges at once, the watchers wait for GO.
    gen = vs.wait_rise(c, gen0 + 1)
    check(gen > gen0, '%s: snapsafed rose %d -> %d' % (c.name, gen0, gen))
    out = wait_until('only the two watchers to be outdated', lambda: module_gen(c),
                     lambda v: v[1] == N_WATCHERS)
    check(out == (kgen, N_WATCHERS), '%s: GET_OUTDATED_WATCHERS counts exactly the %d watchers '
          '(not snapsafed, which acknowledged, nor the libraries\' mappings)' % (c.name,
                                                                                 N_WATCHERS))
    # WAIT_WATCHERS, by a process that is current itself, while the watchers acknowledge one
    # by one: blocked until the last one has.
    since = len(c.console)
    c.run('%s wait-watchers 0 >/dev/ttyS0 2>&1 &' % ST)
    c.wait_console(r'^KWAIT ready', since=since)
    for i, (go, pid) in enumerate(watchers):
        vs.let_run(c, 10)       # 200 ms of the guest's time in which a wrong return would show
        check(not console_lines(c, r'^KWAIT ret=', since) and module_gen(c)[1] ==
              N_WATCHERS - i, '%s: WAIT_WATCHERS blocks while %d watcher(s) are outdated' % (
                  c.name, N_WATCHERS - i))
        c.run('touch ' + go)
        c.wait_console(r'^KWATCH pid=%d acked gen=%d ' % (pid, kgen), since=since)
    _, _, m = c.wait_console(r'^KWAIT ret=(-?\d+) mono=(\d+)', since=since, timeout=30)
    check(int(m.group(1)) == 0, '%s: WAIT_WATCHERS returned 0 once the last watcher '
          'acknowledged' % c.name)
    check(module_gen(c) == (kgen, 0), '%s: no outdated watcher left' % c.name)

    # The library's own read of the device: every draw that began after the module's raise
    # (kgen new) is fresh, whether or not snapsafed had raised yet.
    wait_draws(c, 10, lambda d: d['gen'] == gen)
    ds = draws(c)
    post = [d for d in ds if d['kgen'] == kgen]
    bridged = [d for d in post if d['gen'] == gen0]
    in_window = [d for d in ds if d['kgen'] == kgen0]
    seen = [e for e in events(c, 'SEEN') if e['gen'] == gen]
    rise = vs.wait_events(c, 'RISE', lambda e: e['gen'] > gen0)
    check(rise and seen, '%s: the client saw snapsafed\'s rise (futex) and its watcher read it'
          % c.name)
    raises = vs.daemon_raises(c, gen0)
    strings = {d['bytes'] for d in post} | {e['bytes'] for e in seen}
    check(not (strings & before), '%s: none of the %d strings drawn after the module\'s raise '
          'was drawn before the snapshot' % (c.name, len(strings)))
    # The client without a daemon: the library's own read of the device is all it has.
    lib = wait_until('the daemon-less client to draw after the raise', lambda: libonly_draws(c),
                     lambda ds: len([d for d in ds if d['kgen'] == kgen]) >= 5)
    # Its file holds its whole history, the snapshot's part included.
    lib_post = {d['bytes'] for d in lib if d['kgen'] == kgen}
    lib_before = {d['bytes'] for d in lib if d['kgen'] != kgen}
    check(all(d['engine'] == 1 for d in lib) and not (lib_post & lib_before),
          '%s: daemon-less client (the library reads /dev/sysgenid itself): its engine serves, '
          'and none of its %d draws after the module\'s raise was drawn before it'
          % (c.name, len(lib_post)))
    st = status(c)
    check(st['notifiers'].get('sysgenid') is True, '%s: snapsafed\'s sysgenid notifier is live'
          % c.name)
    k_ns, reseed_ns = kernel_log(c, kgen)
    if reseed_ns is not None:
        # One VM fork, one raise: snapsafed leaves the kernel's record to the sysgenid
        # notifier, which counts the same fork (clients like AWS-LC count every change).
        # This clone's lineage logged one record per fork; each must have been handled.
        wait_until('snapsafed to handle the reseed record', lambda: c.run(
            'dmesg | grep -c "crng reseeded due to virtual machine fork"; grep -c '
            '"already counted by the sysgenid notifier" /tmp/snapsafed.log',
            check=False)[1].split(), lambda v: len(v) == 2 and v[0] == v[1])
        raises = vs.daemon_raises(c, gen0)
        check([n for _, n in raises] == ['sysgenid'] and status(c)['generation'] == gen0 + 1,
              '%s: snapsafed raised exactly once for the fork, by sysgenid (%s)' % (c.name,
                                                                                    raises))

    w = vs.window(c, rise[0], seen[0])
    host_k, guest_k = vs.ms_since_resume(c, krise)
    # Each of snapsafed's raises with the notifier that made it: when both the sysgenid and
    # the vmfork-kmsg notifiers raise for the same fork, this compares them in one clone.
    by = dict(raises)
    per_notifier = {}
    for e in rise:
        n = by.get(e['gen'], 'unknown')
        if n not in per_notifier:
            host_ms, guest_ms = vs.ms_since_resume(c, e)
            per_notifier[n] = {'gen': e['gen'], 'guest_ms': guest_ms, 'host_ms': host_ms,
                               'after_kernel_ms': (e['mono'] - k_ns) / 1e6}
    mark = c.mark['mono']
    w.update({'guest_kernel_raise_ms': (k_ns - mark) / 1e6,
              'guest_kernel_reseed_log_ms': reseed_ns and (reseed_ns - mark) / 1e6,
              'host_reader_ms': host_k, 'guest_reader_ms': guest_k, 'kgen': kgen, 'gen': gen,
              'daemon_raises': raises, 'rise_by_notifier': per_notifier,
              'draws_after_kernel_rise': len(post), 'draws_bridged_by_library': len(bridged),
              'draws_in_window': len(in_window),
              'window_bytes': [d['bytes'] for d in in_window],
              'libonly_window_bytes': [d['bytes'] for d in lib if d['kgen'] == kgen0 and
                                       d['mono'] > c.mark['mono']]})
    res[c.name] = w
    vmlib.log('%s: from the guest resume mark: kernel raise %.1f ms (reseed record %s), '
              'a blocked reader %.1f ms, snapsafed %s, its watcher %.1f ms; host view: reader '
              '%.1f, snapsafed %.1f, watcher %.1f ms; %d draws in the window, %d bridged by '
              'the library' % (
                  c.name, w['guest_kernel_raise_ms'],
                  'none' if reseed_ns is None else '%.1f ms' % w['guest_kernel_reseed_log_ms'],
                  guest_k, ', '.join('%.1f ms (%s, %.1f ms after the kernel)' % (
                      v['guest_ms'], n, v['after_kernel_ms']) for n, v in per_notifier.items()),
                  w['guest_seen_ms'], host_k, w['host_rise_ms'], w['host_seen_ms'],
                  len(in_window), len(bridged)))
    return strings, lib_post


def phase_clones(s, g, kernel, initrd):
    res = s.results.setdefault('clones', {})
    watchers = start_clients(s, g)
    _, _, m = g.wait_console(r'^PATHS .* sysgenid=(\d)')
    res['paths'] = m.group(0)
    check(m.group(1) == '1', 'orig: libsnapsafe maps /dev/sysgenid as a generation source')
    st = status(g)
    check(st['notifiers'].get('sysgenid') is True,
          'orig: snapsafed\'s sysgenid notifier is live (%s)' % st['notifiers'])
    _, log = g.run('cat /tmp/snapsafed.log')
    check(g.run('[ -c /dev/sysgenid ]', check=False)[0] == 0 and 'character device' in log,
          'orig: --sysgenid-compat /dev/sysgenid left the module\'s device alone')
    pre = wait_draws(g, 10, lambda d: d['kdev'])
    check(all(d['engine'] == 1 for d in pre[-5:]), 'orig: the engine serves')
    lib = wait_until('the daemon-less client', lambda: libonly_draws(g), lambda ds: len(ds) >= 5)
    check(all(d['engine'] == 1 and d['gen'] == 0 for d in lib),
          'orig: the daemon-less client\'s engine serves with no daemon (generation 0)')
    kgen0, outdated = module_gen(g)
    check(outdated == 0, 'orig: no outdated watcher before the snapshot')
    gen0 = status(g)['generation']
    res['orig'] = {'kgen': kgen0, 'gen': gen0}
    snap = os.path.join(s.work, 'kmod.snap')
    secs = g.snapshot(snap)
    vmlib.log('orig: snapshot in %.2f s, %d MB' % (secs, os.path.getsize(snap) >> 20))
    before = {d['bytes'] for d in draws(g)} | {e['bytes'] for e in events(g, 'SEEN')}
    g.stop()

    new = s.restore_clones(kernel, initrd, snap,
                           [('new1', str(uuid.uuid4())), ('new2', str(uuid.uuid4()))])
    after = {c.name: clone_checks(s, c, watchers, kgen0, gen0, before, res) for c in new}
    check(not (after['new1'][0] & after['new2'][0]),
          'new1/new2: no string drawn after the module\'s raise is shared by the two clones')
    check(not (after['new1'][1] & after['new2'][1]),
          'new1/new2: nor by the daemon-less clients')
    res['window_shared'] = len(set(res['new1']['window_bytes']) &
                               set(res['new2']['window_bytes']))
    res['libonly_window_shared'] = len(set(res['new1']['libonly_window_bytes']) &
                                       set(res['new2']['libonly_window_bytes']))

    # A clone of a clone: new1 again, with the watchers waiting for a new GO.
    new1 = new[0]
    new1.run('rm ' + ' '.join(go for go, _ in watchers))
    gen1 = status(new1)['generation']
    snap2 = os.path.join(s.work, 'kmod-clone.snap')
    new1.snapshot(snap2)
    before2 = before | after['new1'][0] | {d['bytes'] for d in draws(new1)}
    for c in new:
        c.stop()
    cc = s.restore_clones(kernel, initrd, snap2, [('new1c', str(uuid.uuid4()))])[0]
    clone_checks(s, cc, watchers, kgen0 + 1, gen1, before2, res)
    cc.stop()
    os.unlink(snap2)

    same = s.restore_clones(kernel, initrd, snap, [('same1', g.guid), ('same2', g.guid)])
    firsts = {}
    for c in same:
        wait_draws(c, 10)
        vs.let_run(c, 25)       # 500 ms of the guest's time for a wrong raise to show
        check(module_gen(c) == (kgen0, 0), '%s: same GUID, the module stays at %d' % (
            c.name, kgen0))
        check(status(c)['generation'] == gen0, '%s: same GUID, snapsafed stays at %d' % (
            c.name, gen0))
        check(not console_lines(c, r'^KRISE') and not events(c, 'RISE'),
              '%s: same GUID, nobody saw a raise' % c.name)
        firsts[c.name] = {d['seq']: d['bytes'] for d in draws(c)}
        # The daemon-less client: its draws after the resume, by sequence.
        firsts['lib-' + c.name] = {d['seq']: d['bytes'] for d in libonly_draws(c)
                                   if d['mono'] > c.mark['mono']}
        c.stop()
    for who, a, b in (('client', 'same1', 'same2'),
                      ('daemon-less client', 'lib-same1', 'lib-same2')):
        seqs = sorted(set(firsts[a]) & set(firsts[b]))
        check(seqs, 'same1/same2: common draws of the %s after the resume' % who)
        identical = [q for q in seqs if firsts[a][q] == firsts[b][q]]
        res['same_identical' + ('' if who == 'client' else '_libonly')] = '%d of %d' % (
            len(identical), len(seqs))
        check(seqs[0] in identical, 'same1/same2 (negative control): the %s\'s first draw after '
              'the resume is identical in both clones, %d of %d common draws identical' % (
                  who, len(identical), len(seqs)))
    os.unlink(snap)


def body(s, args):
    kernel = vmlib.fetch_kernel(args.kernel)
    s.results['kernel'] = kernel.release
    ko = build_module(kernel, os.path.join(s.work, 'module'))
    ko_dkms = dkms_module(kernel, os.path.join(s.work, 'module'))
    progs = vs.build_guest_programs(args, {'sysgenid_test': ('kmod-sysgenid-test',
                                                             'test/kmod')})
    files = [(KO, ko, 0o644), ('/bin/' + ST, progs['sysgenid_test'], 0o755)]
    if ko_dkms:
        files.append((KO_DKMS, ko_dkms, 0o644))
    initrd = vs.make_initramfs(progs, os.path.join(s.work, 'initrd.cpio'), files)

    g = s.boot('orig', kernel, initrd)
    if ko_dkms:
        g.run('insmod ' + KO_DKMS)
        check(module_gen(g) == (0, 0), 'the module DKMS built from kmod/dkms.conf loads and works')
        g.run('rmmod sysgenid')
    s.results['dkms'] = 'built and loaded' if ko_dkms else 'dkms not installed: not checked'
    g.run('insmod ' + KO)
    _, out = g.run('stat -c "%F %a" /dev/sysgenid; cat /proc/sys/kernel/tainted; '
                   'dmesg | grep -i sysgenid || true')
    lines = out.splitlines()
    s.results['device'] = {'node': lines[0], 'tainted': lines[1], 'dmesg': lines[2:]}
    check(lines[0] == 'character special file 666', 'insmod: /dev/sysgenid is a character '
          'device, mode 0666 (every user may watch, map and acknowledge)')
    phase_unload(s, g)
    phase_abi(s, g)
    phase_clones(s, g, kernel, initrd)


def main():
    ap = vs.arg_parser(__doc__.splitlines()[0])
    vs.add_program_args(ap, ['sysgenid_test'])
    args = ap.parse_args()
    return vs.run(args, body, os.path.join('test', 'kmod', 'work-' + args.kernel))


if __name__ == '__main__':
    sys.exit(main())
