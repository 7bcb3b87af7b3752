#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The vmclock suite (docs/vm-clones.md): libsnapsafe on VMClock, on real QEMU clones.

A guest of Debian 13's QEMU (10.0 or later: `-device vmclock`, whose disruption_marker changes
on every load of a snapshot) with a Linux 7.x kernel (ptp_vmclock: /dev/vmclock0) runs
snapsafed and two vmclock-clients in tight loops: `hw` (the library as released: a reseed
mixes RDRAND into the kernel's key) and `nohw` (the test-only variant without the hardware
input and without the VMClock hold: the negative control). Each round also draws from
getrandom(), the kernel's own output (the control). The guest is snapshotted mid-loop and
restored as four clones, two with new vmgenid GUIDs and two with the original one (a restore
like a live migration: nothing but the CPU's generator tells those two apart); then the first
new-GUID clone is snapshotted and restored as two more (a clone of a clone); last, each of
those runs one client alone and is restored as two clones with its own GUID, where the
kernel answers both alike until it reseeds itself. The clients write every round from the
first one after the resume; the host compares them all.

Asserted: the hw client's every draw after a resume came from the engine, its first one from
a seed made after the restore that mixed a hardware input, and none of its outputs repeats in
another clone, in the same clone or before the snapshot; snapsafed's generation rose in every
new-GUID clone and not in those with the original GUID, where its vmclock notifier saw the
marker change and made a new epoch; the nohw client alone repeats across its two clones
whenever the kernel still answered them alike (the control sees the failure). Reported: what
getrandom() and the nohw client repeated across each pair of clones.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
import vmlib  # noqa: E402
import vmscenario  # noqa: E402
from vmlib import VmError  # noqa: E402
from vmscenario import TestFailure, check  # noqa: E402

import vmclock_analysis as analysis  # noqa: E402
import vmclock_host as host  # noqa: E402

RUNTIME = vmscenario.RUNTIME
CTL = vmscenario.CTL
KINDS = ('hw', 'nohw')
SNAPSHOT_UPTIME = 40


# ---- the guest -------------------------------------------------------------------------------

def initramfs(progs, kernel, out):
    ird = vmlib.base_initramfs(progs['agent'])
    ird.add_file('/bin/snapsafed', progs['snapsafed'], 0o755)
    ird.add_file('/bin/snapsafectl', progs['snapsafectl'], 0o755)
    for kind in KINDS:
        ird.add_file('/bin/vmclock-client-' + kind, progs['client_' + kind], 0o755)
    ird.add_bytes('/lib/modules/ptp_vmclock.ko', host.module_bytes(kernel.module))
    return ird.write(out)


def guest_wait(g, cond, what, seconds=60):
    """Until the shell condition holds in the guest, checked every 0.1 s of guest time, at
    most `seconds` of it (and that plus 60 s of host time)."""
    rc, _ = g.run('i=0; until %s; do i=$((i+1)); [ $i -gt %d ] && exit 1; sleep 0.1; done' % (
        cond, seconds * 10), timeout=seconds + 60, check=False)
    if rc != 0:
        raise TestFailure('%s: %s, not within %d s' % (g.name, what, seconds))


def start_programs(g, rounds):
    """ptp_vmclock, snapsafed, a watcher printing each raise on the console (RAISED gen=N) and
    both clients; returns what the clients said at their start, once both engines serve."""
    g.run('insmod /lib/modules/ptp_vmclock.ko && test -c /dev/vmclock0')
    g.run('snapsafed -v --runtime-dir %s >/tmp/snapsafed.log 2>&1 &' % RUNTIME)
    guest_wait(g, '%s status >/dev/null 2>&1' % CTL, 'snapsafed does not answer')
    g.run('(%s watch | while read n; do echo "RAISED gen=$n"; done) >/dev/ttyS0 2>&1 &' % CTL)
    starts = {}
    for kind in KINDS:
        g.run('SNAPSAFE_RUNTIME_DIR=%s vmclock-client-%s %s %d /tmp/rounds-%s >/dev/ttyS0 '
              '2>&1 &' % (RUNTIME, kind, kind, rounds, kind))
        _, _, m = g.wait_console(r'^START kind=%s hwrng=(\d) reseed=(\w+) marker=(\d+) '
                                 r'poll=(-?\d+) ' % kind, timeout=60)
        starts[kind] = {'hwrng': int(m.group(1)), 'reseed': m.group(2),
                        'marker': int(m.group(3)), 'poll': int(m.group(4))}
    for kind in KINDS:
        g.wait_console(r'^LOOPING kind=%s ' % kind, timeout=120)
    return starts


def recorded(c, n, kinds=KINDS):
    """The clients' rounds around the clone's n-th restore (the n-th change of the marker they
    saw), read from the guest once written (and kept in the work folder): {kind: [round]}."""
    got = {}
    for kind in kinds:
        c.wait_console(r'^RECORDED kind=%s n=%d ' % (kind, n), timeout=900)
        _, text = c.run('cat /tmp/rounds-%s-%d' % (kind, n), timeout=600)
        with open(os.path.join(c.workdir, '%s.rounds-%s-%d' % (c.name, kind, n)), 'w') as f:
            f.write(text)
        got[kind] = analysis.parse_rounds(text)
    return got


def raised_above(c, gen, timeout=120):
    """The first generation above gen that the clone's watcher printed (snapsafed raised)."""
    deadline = time.monotonic() + timeout
    since = 0
    while True:
        i, _, m = c.wait_console(r'^RAISED gen=(\d+)$', since=since,
                                 timeout=max(1, deadline - time.monotonic()))
        if int(m.group(1)) > gen:
            return int(m.group(1))
        since = i + 1


def check_raised(c, gen):
    g = raised_above(c, gen)
    check(g > gen, '%s (new GUID): snapsafed raised the generation %d -> %d' % (c.name, gen, g))


def marker_changes(g):
    """How often snapsafed has logged a change of the marker (the log goes into clones)."""
    _, out = g.run('grep -c "disruption_marker changed" /tmp/snapsafed.log', check=False)
    return int(out.strip() or 0)


def check_not_raised(c, gen, changes):
    """A restore with the original GUID, like a live migration: the vmclock notifier sees the
    marker change (its log has more than the origin's `changes` of them) and makes a new
    epoch; nothing raises the generation."""
    guest_wait(c, '[ $(grep -c "disruption_marker changed" /tmp/snapsafed.log) -gt %d ]' %
               changes, 'snapsafed\'s vmclock notifier did not see the marker change')
    st = vmscenario.status(c)
    raised = [ln for _, ln in c.console_lines(r'^RAISED gen=\d+$')
              if int(ln.split('=')[1]) > gen]
    check(st['generation'] == gen and not raised and st.get('epoch_notifier') == 'vmclock',
          '%s (original GUID): the marker changed, a new epoch by vmclock, the generation '
          'stays %d (%s, epoch by %s)' % (c.name, gen, st['generation'],
                                          st.get('epoch_notifier')))


def check_engine(name, rounds):
    """The hw client in one clone: every draw after the resume from the engine, the first from
    a seed made after the restore with a hardware input in it."""
    drawn = analysis.after(rounds)
    served = sum(1 for r in drawn if r['engine'])
    check(served == len(drawn), '%s: the engine served all %d draws after the resume (%d)' % (
        name, len(drawn), served))
    first = analysis.first_fresh(rounds)
    check(first['engine'] and first['hw_reseeded'],
          '%s: the first draw after the resume came from a new seed with a hardware input (%s)'
          % (name, first))


def run_step(session, kernel, initrd, origin, snap, specs, n, kinds=KINDS):
    """Snapshot origin mid-loop, restore the clones (name, guid or None for a new one), wait
    for the clients' rounds of their n-th restore; returns ({name: clone}, {name: rounds},
    how many marker changes snapsafed had logged in origin)."""
    res = session.results
    changes = marker_changes(origin)
    secs = origin.snapshot(snap)
    vmlib.log('%s: snapshot in %.2f s' % (origin.name, secs))
    res.setdefault('snapshot_s', []).append(round(secs, 2))
    t0 = time.monotonic()
    clones = session.restore_clones(kernel, initrd, snap,
                                    [(name, guid or str(uuid.uuid4())) for name, guid in specs])
    res.setdefault('restore_s', []).append(round(time.monotonic() - t0, 2))
    rounds = {}
    for c in clones:
        rounds[c.name] = recorded(c, n, kinds)
    return {c.name: c for c in clones}, rounds, changes


def boot_guest(session, args):
    """Boot the guest and start everything; returns (guest, kernel, initrd)."""
    res = session.results
    progs = vmscenario.build_guest_programs(args, {
        'client_hw': ('vmclock-client-hw', 'test/vmclock'),
        'client_nohw': ('vmclock-client-nohw', 'test/vmclock')})
    kernel = host.fetch_kernel()
    res.update(qemu=host.Guest.qemu.version(), kernel=kernel.release,
               rounds_per_clone=args.rounds)
    initrd = initramfs(progs, kernel, os.path.join(session.work, 'initrd.cpio'))
    boot = session.guest('boot', kernel, initrd)
    t0 = time.monotonic()
    boot.start()
    boot.wait_booted(timeout=300)
    res['boot_s'] = round(time.monotonic() - t0, 1)
    vmlib.log('boot: %s in %.1f s' % (kernel.release, res['boot_s']))
    starts = start_programs(boot, args.rounds)
    res['client_start'] = starts
    check(starts['hw']['hwrng'] == 1 and starts['nohw']['hwrng'] == 0,
          'the hw client has RDRAND, the nohw client has the hardware input compiled out')
    _, log = boot.run('grep vmclock /tmp/snapsafed.log')
    res['daemon_vmclock_log'] = log.strip().splitlines()
    check('no vm_generation_counter' in log,
          'snapsafed watches VMClock without a counter (QEMU offers the marker alone)')
    # Early in boot the kernel reseeds its own generator every max(1, uptime / 2) s; a reseed
    # between the snapshot and a clone's first draw makes the clones' kernels differ for a
    # reason that has nothing to do with VMClock. Snapshot once that interval is 20 s.
    guest_wait(boot, "awk '{ exit !($1 >= %d) }' /proc/uptime" % SNAPSHOT_UPTIME,
               'the guest\'s uptime did not reach %d s' % SNAPSHOT_UPTIME, seconds=120)
    return boot, kernel, initrd


def body(session, args):
    boot, kernel, initrd = boot_guest(session, args)
    alone_names = {}
    gen0 = vmscenario.status(boot)['generation']
    work = session.work

    # 1: four clones of one snapshot, two with the original GUID.
    same = boot.guid
    clones, rounds, changes = run_step(session, kernel, initrd, boot,
                                       os.path.join(work, 'snap1'),
                                       [('new1', None), ('new2', None), ('same1', same),
                                        ('same2', same)], 1)
    boot.stop()
    for name in ('new1', 'new2'):
        check_raised(clones[name], gen0)
    for name in ('same1', 'same2'):
        check_not_raised(clones[name], gen0, changes)
    gen1 = vmscenario.status(clones['new1'])['generation']
    for name in ('new2', 'same1', 'same2'):
        clones[name].stop()

    # 2: a clone of a clone.
    clones2, rounds2, _ = run_step(session, kernel, initrd, clones['new1'],
                                   os.path.join(work, 'snap2'),
                                   [('new1a', None), ('new1b', None)], 2)
    clones['new1'].stop()
    for c in clones2.values():
        check_raised(c, gen1)
    rounds.update(rounds2)

    # 3 and 4: each client alone in two clones that nothing tells apart (the original GUID):
    # with one process drawing, the kernel answers both clones alike after the resume until
    # it reseeds itself, and the client reseeds from it at once. 3: the negative control, which
    # must repeat; 4: the library, which must not.
    for step, (kind, origin, names) in enumerate((
            ('nohw', clones2['new1a'], ('nohw1', 'nohw2')),
            ('hw', clones2['new1b'], ('hw1', 'hw2'))), start=3):
        other = 'hw' if kind == 'nohw' else 'nohw'
        origin.run('killall vmclock-client-%s' % other)
        gen2 = vmscenario.status(origin)['generation']
        alone, rounds_alone, changes = run_step(session, kernel, initrd, origin,
                                                os.path.join(work, 'snap%d' % step),
                                                [(n, origin.guid) for n in names], 3, (kind,))
        origin.stop()
        for c in alone.values():
            check_not_raised(c, gen2, changes)
            c.stop()
        rounds.update(rounds_alone)
        alone_names[kind] = names
    analyse(rounds, alone_names, session.results)


def analyse(rounds, alone_names, res):
    """The comparisons: asserted for the hw client's engine, reported for the rest."""
    hw = {name: r['hw'] for name, r in rounds.items() if 'hw' in r}
    nohw = {name: r['nohw'] for name, r in rounds.items() if 'nohw' in r}
    for name, rs in sorted(hw.items()):
        check_engine(name, rs)
    out = res['compare'] = {}
    for label, clones, field in (('engine_hw', hw, 'eng'), ('getrandom', hw, 'krn'),
                                 ('engine_nohw', nohw, 'eng'), ('getrandom_nohw', nohw, 'krn')):
        rep = analysis.repeats(clones, field)
        rep['within_clone'] = sum(analysis.repeats_within(rs, field) for rs in clones.values())
        rep['of_before_snapshot'] = analysis.repeats_of_before(clones, field)
        out[label] = rep
        vmlib.log('%s: %d of %d draws after the resume repeat in another clone; pairs %s' % (
            label, rep['repeated'], rep['draws'],
            {k: v for k, v in rep['pairs'].items() if v}))
    res['mid_rounds'] = {name: sum(1 for r in rs if r['tag'] == 'MID')
                         for name, rs in hw.items()}
    res['alone'] = {kind: alone_pair(*(rounds[n][kind] for n in names))
                    for kind, names in alone_names.items()}
    e = out['engine_hw']
    check(e['repeated'] == 0 and e['within_clone'] == 0 and e['of_before_snapshot'] == 0,
          'the engine (hw): none of %d draws after a resume repeats across %d clones, within '
          'a clone or before the snapshot (%s)' % (
              e['draws'], len(hw), 'the kernel answered the two original-GUID clones alike'
              if res['alone']['hw']['kernel_alike'] else 'the kernel reseeded itself first'))
    nc = res['alone']['nohw']
    if not nc['kernel_alike']:
        vmlib.log('the negative control does not discriminate in this run: the kernel '
                  'reseeded itself before the first draw after the resume')
        return
    # Not its first draw alone: a source that changes again during it (snapsafed's epoch)
    # makes one clone reseed twice, and the two repeat from their next reseed on.
    check(nc['repeated'] > 0,
          'the negative control repeats: without the hardware input, two clones with the same '
          'GUID drew %d identical engine outputs' % nc['repeated'])


def alone_pair(a, b):
    """Steps 3 and 4: did the kernel still answer the two clones alike after the client's first
    reseed (the getrandom() draw of that same round repeats; a kernel that reseeded itself
    first answers differently), did the engine's first draw repeat, and how many did."""
    fa, fb = analysis.after(a)[0], analysis.after(b)[0]
    return {'kernel_alike': fa['krn'] == fb['krn'], 'first_repeats': fa['eng'] == fb['eng'],
            'repeated': analysis.repeats({'a': a, 'b': b}, 'eng')['pairs']['a/b']}


def run(args):
    """77 when Debian 13's QEMU cannot be had or does not run (1 under CI=true), 1 with every
    guest's console on a failure, 0 on success; the results are printed either way."""
    try:
        host.Guest.qemu = host.Qemu()
    except vmlib.VmSkip as e:
        vmlib.skip_or_fail(str(e))
    work = args.workdir or os.path.join(os.environ.get('SNAPSAFE_BUILD_ROOT', '.'),
                                        'test', 'vmclock', 'work')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    session = host.Session(work)
    ok = False
    t0 = time.monotonic()
    try:
        host.ensure_host_tools()
        body(session, args)
        ok = True
    except (TestFailure, VmError, subprocess.CalledProcessError, ValueError) as e:
        print('FAIL: %s' % e, file=sys.stderr)
        session.dump()
    finally:
        session.stop()
        session.results['seconds'] = round(time.monotonic() - t0, 1)
    print(json.dumps(session.results, indent=1, default=str))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(session.results, f, indent=1, default=str)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--workdir', help='keep logs here (default: a folder in the build tree)')
    ap.add_argument('--json', help='write the measurements to this file')
    ap.add_argument('--rounds', type=int, default=500,
                    help='rounds each client records after each resume (default 500)')
    vmscenario.add_program_args(ap)
    ap.add_argument('--client-hw', dest='client_hw')
    ap.add_argument('--client-nohw', dest='client_nohw')
    sys.exit(run(ap.parse_args()))


if __name__ == '__main__':
    main()
