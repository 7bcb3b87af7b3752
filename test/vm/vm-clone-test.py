#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vm-clone-test: snapsafe inside real VM clones (docs/vm-clones.md).

Boots a Debian guest kernel under QEMU with snapsafed (vmfork-kmsg notifier) and guest-client
(libsnapsafe, default policy), snapshots it while the client draws, and restores clones:

  vmfork scenario   two clones with new vmgenid GUIDs: the generation rises, the watcher sees and
                    acks it, every string drawn after the rise differs between the clones and from
                    all drawn before the snapshot. Two clones with the original GUID (negative
                    control): no rise, and their first draws after the resume are identical.
  control scenario  `snapsafectl quiesce` before the snapshot (the engine stops serving); in each
                    clone the VM fork is counted and the engine still does not serve; then the
                    host sends `snapsafectl resume` through the agent's serial port,
                    `wait-watchers` returns, and the draws after the resume differ.

Per clone it measures the window from the resume to the rise and to the watcher seeing it.
Exit 0 pass, 1 fail (every guest's console is printed), 77 when QEMU cannot run (1 under CI=true).
The harness is vmlib.py (QEMU) and vmscenario.py (snapsafe in a guest); test/kmod/kmod-test.py
runs the same scenario on top of the sysgenid kernel module. tools/vm-clone-demo runs this by
hand and prints the clones' draws side by side.
"""

import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import vmlib  # noqa: E402
import vmscenario as vs  # noqa: E402
from vmscenario import check, draws, events, status, wait_draws, CTL  # noqa: E402

# What each guest kernel gives the library: (policy, state memory, kernel reseed path).
EXPECTED_PATHS = {'6.1': ('auto', 'wipeonfork', 'syscall'), '6.12': ('auto', 'droppable', 'vdso')}
# Draws per clone kept in the results for tools/vm-clone-demo's side-by-side view.
DEMO_DRAWS = 8


def first_draws(c):
    return [(d['seq'], d['gen'], d['bytes']) for d in draws(c)[:DEMO_DRAWS]]


# ---- scenario 1: vmgenid ----------------------------------------------------------------------

def scenario_vmfork(s, kernel, initrd):
    res = s.results.setdefault('vmfork', {})
    g = s.boot_and_start('orig', kernel, initrd)
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
    snap = os.path.join(s.work, 'vmfork.snap')
    secs = g.snapshot(snap)
    vmlib.log('orig: snapshot in %.2f s, %d MB' % (secs, os.path.getsize(snap) >> 20))
    before = {d['bytes'] for d in draws(g)} | {e['bytes'] for e in events(g, 'SEEN')}
    g.stop()
    check(len(before) >= 10, 'orig: %d distinct strings drawn before the snapshot' % len(before))

    new = s.restore_clones(kernel, initrd, snap,
                           [('new1', str(uuid.uuid4())), ('new2', str(uuid.uuid4()))])
    after = {}
    for c in new:
        gen = vs.wait_rise(c, gen0 + 1)
        check(gen > gen0, '%s: the generation rose %d -> %d' % (c.name, gen0, gen))
        # The watcher thread printed SEEN before ACKED; the futex thread prints RISE on its
        # own schedule, so wait for it.
        rise = vs.wait_events(c, 'RISE', lambda e, gen=gen: e['gen'] == gen)
        seen = [e for e in events(c, 'SEEN') if e['gen'] == gen]
        check(rise and seen, '%s: the client saw the rise (futex) and the watcher read it'
              % c.name)
        wait_draws(c, 10, lambda d, gen=gen: d['gen'] == gen)
        st = status(c)
        check(st['generation'] == gen and st['outdated'] == 0,
              '%s: status generation %d, outdated %d' % (c.name, st['generation'],
                                                         st['outdated']))
        c.run(CTL + ' wait-watchers --timeout 60000', timeout=90)
        _, kmsg = c.run('dmesg | grep "virtual machine fork"', check=False)
        post = [d for d in draws(c) if d['gen'] == gen] + seen
        in_window = [d for d in draws(c) if d['gen'] == gen0]
        after[c.name] = {d['bytes'] for d in post}
        w = vs.window(c, rise[0], seen[0])
        w.update({'gen': gen, 'draws_after_rise': len(post), 'draws_in_window': len(in_window),
                  'window_bytes': [d['bytes'] for d in in_window], 'kmsg': kmsg.strip(),
                  'first_draws': first_draws(c)})
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

    same = s.restore_clones(kernel, initrd, snap, [('same1', g.guid), ('same2', g.guid)])
    firsts = {}
    for c in same:
        wait_draws(c, 10)
        st = status(c)
        check(st['generation'] == gen0, '%s: same GUID, the generation stays %d' % (
            c.name, gen0))
        check(not events(c, 'RISE') and not events(c, 'SEEN'),
              '%s: same GUID, the client saw no rise' % c.name)
        firsts[c.name] = {d['seq']: d['bytes'] for d in draws(c)}
        res[c.name] = {'gen': gen0, 'first_draws': first_draws(c)}
        c.stop()
    seqs = sorted(set(firsts['same1']) & set(firsts['same2']))
    check(seqs, 'same1/same2: common draws after the resume')
    identical = [q for q in seqs if firsts['same1'][q] == firsts['same2'][q]]
    res['same_identical'] = '%d of %d' % (len(identical), len(seqs))
    check(seqs[0] in identical, 'same1/same2 (negative control): the first draw after the '
          'resume is identical in both clones (%s), %s common draws identical' % (
              firsts['same1'][seqs[0]], res['same_identical']))
    os.unlink(snap)


# ---- scenario 2: the control plane (quiesce / resume) -----------------------------------------

def scenario_control(s, kernel, initrd):
    res = s.results.setdefault('control', {})
    g = s.boot_and_start('qorig', kernel, initrd)
    wait_draws(g, 5)
    g.run(CTL + ' quiesce')
    st = status(g)
    check(st['quiesced'] is True, 'qorig: status says quiesced after snapsafectl quiesce')
    n = len(draws(g))
    wait_draws(g, n + 3)
    check(all(d['engine'] == 0 for d in draws(g)[n + 1:]),
          'qorig: the engine stopped serving while quiesced (engine=0)')
    gen0 = st['generation']
    snap = os.path.join(s.work, 'control.snap')
    g.snapshot(snap)
    before = {d['bytes'] for d in draws(g)} | {e['bytes'] for e in events(g, 'SEEN')}
    g.stop()

    clones = s.restore_clones(kernel, initrd, snap,
                              [('ctl1', str(uuid.uuid4())), ('ctl2', str(uuid.uuid4()))])
    after = {}
    for c in clones:
        # The new GUID is a VM fork, which the vmfork-kmsg notifier counts on its own. Let it
        # be counted first, so that the resume's raise is the last one whatever the timing.
        gen1 = vs.wait_rise(c, gen0 + 1)
        forked = wait_draws(c, 3, lambda d, gen1=gen1: d['gen'] == gen1)
        check(all(d['engine'] == 0 for d in forked), '%s: the VM fork raised %d -> %d and the '
              'engine still does not serve: only resume ends a quiesce' % (c.name, gen0, gen1))
        # The control plane's resume, sent through the agent's serial port (ttyS1).
        _, out = c.run(CTL + ' resume --json')
        st = status(c)
        check(st['quiesced'] is False and st['generation'] > gen1,
              '%s: after resume: quiesced %s, generation %d > %d' % (
                  c.name, st['quiesced'], st['generation'], gen1))
        gen = st['generation']
        c.run(CTL + ' wait-watchers --timeout 60000', timeout=90)
        # The client prints ACKED after the daemon has taken its ack, which is what let
        # wait-watchers return: the line may still be on its way.
        check(vs.wait_rise(c, gen) == gen,
              '%s: wait-watchers returned and the client acked generation %d' % (c.name, gen))
        post = wait_draws(c, 10, lambda d, gen=gen: d['gen'] == gen and d['engine'] == 1)
        after[c.name] = {d['bytes'] for d in post}
        res[c.name] = {'gen': gen, 'draws_after_resume': len(post),
                       'first_draws': first_draws(c)}
    for name, strings in after.items():
        check(not (strings & before), '%s: nothing drawn after resume was drawn before the '
              'snapshot' % name)
    check(not (after['ctl1'] & after['ctl2']),
          'ctl1/ctl2: no string drawn after resume is shared by the two clones')
    for c in clones:
        c.stop()
    os.unlink(snap)


def body(s, args):
    kernel = vmlib.fetch_kernel(args.kernel)
    progs = vs.build_guest_programs(args)
    initrd = vs.make_initramfs(progs, os.path.join(s.work, 'initrd.cpio'))
    s.results['kernel'] = kernel.release
    if args.scenario in ('all', 'vmfork'):
        scenario_vmfork(s, kernel, initrd)
    if args.scenario in ('all', 'control'):
        scenario_control(s, kernel, initrd)


def main():
    ap = vs.arg_parser(__doc__.splitlines()[0])
    ap.add_argument('--scenario', choices=['all', 'vmfork', 'control'], default='all')
    args = ap.parse_args()
    return vs.run(args, body, os.path.join('test', 'vm', 'work-' + args.kernel))


if __name__ == '__main__':
    sys.exit(main())
