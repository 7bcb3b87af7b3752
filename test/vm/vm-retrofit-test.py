#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vm-retrofit-test: the preload shim and the OpenSSL provider inside real VM clones.

Boots a Debian guest kernel under QEMU with snapsafed (vmfork-kmsg notifier) and programs that
know nothing of snapsafe, the host's own dynamically linked binaries, each drawing 16 bytes in
a loop (docs/vm-clones.md has the table of what runs):

  glibc     retrofit-libc: getrandom() and arc4random_buf(), under the shim (LD_PRELOAD) and
            plain (the control: glibc 2.36 asks the kernel);
  RAND      retrofit-rand: RAND_bytes(), with the provider configured (OPENSSL_CONF,
            OPENSSL_MODULES) and plain (the control: OpenSSL's DRBG in process memory);
  openssl   `openssl rand -hex 16`, a new process each time, with the provider and plain.

The shim and the provider run twice: the release builds, and the observed builds (the same
objects plus test/vm/engine-observe.c), whose draws say whether the engine served them. Then:

  notifiers  snapshot; three clones with new vmgenid GUIDs. Under snapsafe no draw that began
             after the generation rose repeats across the clones or anything drawn before
             the snapshot, and the engine served every observed one.
  quiesce    the same guest goes on, `snapsafectl quiesce` (the engine stops serving),
             snapshot, three clones with new GUIDs; the VM fork is counted, then the host
             sends `snapsafectl resume` to each. Under snapsafe no draw that began after the
             VM fork was counted repeats; the engine served nothing before the resume, and
             every observed draw after it, and none of the draws it served in the clones
             repeats. The draws before the VM fork was counted went to the kernel, whose
             own state the clones share until it handles the vmgenid notification: those
             may repeat, with snapsafe as without (the kernel's window, counted).

Both count the controls' repeats beside them, and the draws between the restore and the rise
(the window) with theirs; the OpenSSL control must repeat (the negative control: the clones
really share the process memory, and the comparison sees it). Exit 0 pass, 1 fail (every
guest's console is printed), 77 when QEMU cannot run (1 under CI=true).
"""

import collections
import os
import re
import shutil
import subprocess
import sys
import uuid
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import vmlib  # noqa: E402
import vmscenario as vs  # noqa: E402
from vmlib import VmError  # noqa: E402
from vmscenario import check, status, CTL  # noqa: E402

# The programs under test and the builds of snapsafe they run with: option key -> (meson
# target, its folder in the build tree, its file), for the nested build when meson did not
# pass them.
RETROFIT_BUILDS = {
    'retrofit_libc': ('vm-retrofit-libc', 'test/vm'),
    'retrofit_rand': ('vm-retrofit-rand', 'test/vm'),
    'retrofit_loop': ('vm-retrofit-loop', 'test/vm'),
    'shim': ('src/preload/snapsafe-preload', 'src/preload', 'libsnapsafe-preload.so'),
    'shim_observed': ('vm-preload-observed', 'test/vm', 'vm-preload-observed.so'),
    'provider': ('src/openssl/snapsafe', 'src/openssl', 'snapsafe.so'),
    'provider_observed': ('vm-provider-observed', 'test/vm', 'vm-provider-observed.so'),
}

# Where they are in the guest.
LIBDIR = '/usr/lib/snapsafe-test'
SHIM = LIBDIR + '/libsnapsafe-preload.so'
SHIM_OBSERVED = LIBDIR + '/observed/libsnapsafe-preload.so'
MODULES = LIBDIR + '/ossl-modules'
MODULES_OBSERVED = LIBDIR + '/observed/ossl-modules'
OPENSSL = '/usr/bin/openssl'
CONF_PLAIN = '/etc/ssl/openssl-plain.cnf'

C_INTERVAL_MS = 100     # retrofit-libc and retrofit-rand: a draw (or two) every 100 ms
CLI_INTERVAL_MS = 250   # openssl rand: a new process (loader, libcrypto, configuration) each


class Program:
    """One program in the guest: name (prog= of its lines), role ('snapsafe' or 'control'),
    observed (its lines say the path), functions (fn= of its lines), want (draws per function
    to wait for after an event), the command line's environment and arguments, what it is."""

    def __init__(self, name, role, observed, functions, want, env, argv, what):
        self.name, self.role, self.observed = name, role, observed
        self.functions, self.want, self.env, self.argv = functions, want, env, argv
        self.what = what

    def command(self):
        return ' '.join(['%s=%s' % kv for kv in self.env] + self.argv)


def programs(conf):
    """The programs, with conf the guest path of snapsafe's OpenSSL configuration."""
    libc = ('getrandom', 'arc4random_buf')
    prov = [('OPENSSL_CONF', conf), ('OPENSSL_MODULES', MODULES)]
    prov_observed = [('OPENSSL_CONF', conf), ('OPENSSL_MODULES', MODULES_OBSERVED)]
    plain = [('OPENSSL_CONF', CONF_PLAIN)]
    c_ms, cli_ms = str(C_INTERVAL_MS), str(CLI_INTERVAL_MS)
    loop = ['openssl-rand', '/tmp/retrofit-%s.report', OPENSSL, 'rand', '-hex', '16']

    def cli(name):
        return ['retrofit-loop', name, cli_ms] + [a.replace('%s', name) for a in loop]
    return [
        Program('shim', 'snapsafe', True, libc, 6, [('LD_PRELOAD', SHIM_OBSERVED)],
                ['retrofit-libc', 'shim', c_ms], 'glibc, the shim (observed build)'),
        Program('shim-release', 'snapsafe', False, libc, 6, [('LD_PRELOAD', SHIM)],
                ['retrofit-libc', 'shim-release', c_ms], 'glibc, the shim (release build)'),
        Program('glibc', 'control', False, libc, 6, [],
                ['retrofit-libc', 'glibc', c_ms], 'glibc alone'),
        Program('provider', 'snapsafe', True, ('RAND_bytes',), 6, prov_observed,
                ['retrofit-rand', 'provider', c_ms], 'OpenSSL, the provider (observed build)'),
        Program('provider-release', 'snapsafe', False, ('RAND_bytes',), 6, prov,
                ['retrofit-rand', 'provider-release', c_ms],
                'OpenSSL, the provider (release build)'),
        Program('openssl', 'control', False, ('RAND_bytes',), 6, plain,
                ['retrofit-rand', 'openssl', c_ms], "OpenSSL's own DRBG"),
        Program('cli-provider', 'snapsafe', True, ('openssl-rand',), 2, prov_observed,
                cli('cli-provider'), '`openssl rand`, the provider (observed build)'),
        Program('cli', 'control', False, ('openssl-rand',), 2, plain,
                cli('cli'), '`openssl rand` alone'),
    ]


RDRAW_RX = re.compile(r'^RDRAW prog=(\S+) fn=(\S+) seq=(\d+) gen=(\d+)(?:-(\d+))? path=(\S+) '
                      r'mono=(\d+) bytes=([0-9a-f]{32})$')


# ---- the initramfs ----------------------------------------------------------------------------

def make_initramfs(progs, out):
    """vmscenario's guest (busybox, the agent, snapsafed, snapsafectl, guest-client) plus the
    programs under test, the openssl command, the shim, the provider and what ldd says they
    need; returns (path, the guest path of snapsafe's OpenSSL configuration)."""
    openssl = shutil.which('openssl')
    if not openssl:
        deps = os.path.join(vmlib.source_root(), 'tools', 'deps')
        vmlib.log('installing the openssl command with tools/deps')
        try:
            subprocess.run([deps, 'openssl'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=900)
        except subprocess.TimeoutExpired:
            raise VmError('tools/deps openssl did not finish in 900 s')
        openssl = shutil.which('openssl')
    if not openssl:
        raise VmError('the openssl command is missing (as root: tools/deps openssl)')
    ird = vs.initramfs(progs)
    ird.add_file('/bin/retrofit-loop', progs['retrofit_loop'], 0o755)
    ird.add_dynamic('/bin/retrofit-libc', progs['retrofit_libc'])
    ird.add_dynamic('/bin/retrofit-rand', progs['retrofit_rand'])
    ird.add_dynamic(OPENSSL, openssl)
    ird.add_dynamic(SHIM, progs['shim'])
    ird.add_dynamic(SHIM_OBSERVED, progs['shim_observed'])
    ird.add_dynamic(MODULES + '/snapsafe.so', progs['provider'])
    ird.add_dynamic(MODULES_OBSERVED + '/snapsafe.so', progs['provider_observed'])
    # The configuration as the build made it for installing: it includes the drop-in from
    # the folder its .pragma names, where the guest gets it too.
    built = os.path.join(os.path.dirname(progs['provider']), 'openssl-snapsafe.cnf')
    with open(built) as f:
        m = re.search(r'^\.pragma includedir:(\S+)$', f.read(), re.M)
    if not m:
        raise VmError('%s names no includedir' % built)
    conf = m.group(1) + '/openssl-snapsafe.cnf'
    ird.add_file(conf, built, 0o644)
    ird.add_file(m.group(1) + '/openssl-snapsafe-sections.cnf',
                 os.path.join(vmlib.source_root(), 'src', 'openssl',
                              'openssl-snapsafe-sections.cnf'), 0o644)
    ird.add_bytes(CONF_PLAIN, b'# OpenSSL\'s defaults: no provider but the default one\n')
    return ird.write(out), conf


# ---- the programs' lines ----------------------------------------------------------------------

_parsed = weakref.WeakKeyDictionary()     # guest -> [console lines parsed, draws, RERRORs]


def _parse(guest):
    """Parse the console lines that came since the last call. Each line once: the waits
    below ask again at every line of a console that grows by about a hundred a second."""
    state = _parsed.setdefault(guest, [0, [], []])
    lines = guest.console_lines(since=state[0])
    state[0] += len(lines)
    for _, line in lines:
        m = RDRAW_RX.match(line)
        if m:
            gen = int(m.group(4))
            state[1].append({'prog': m.group(1), 'fn': m.group(2), 'seq': int(m.group(3)),
                             'gen': gen, 'gen_after': int(m.group(5) or gen),
                             'path': m.group(6), 'mono': int(m.group(7)),
                             'bytes': m.group(8), 'line': line})
        elif line.startswith('RERROR'):
            state[2].append(line)
    return state


def rdraws(guest):
    """The programs' draws on the console: dicts with prog, fn, seq, gen (before the draw),
    gen_after, path, mono, bytes, line (the whole line: see leftovers())."""
    return list(_parse(guest)[1])


def failed_lines(guest):
    """The programs' RERROR lines."""
    return list(_parse(guest)[2])


def wait_all(guest, progs, pred, what, most=None, timeout=120):
    """Wait until every program has drawn, with each of its functions, p.want times (at most
    `most`) matching pred; an RERROR line fails at once."""
    def get():
        bad = failed_lines(guest)
        if bad:
            raise VmError('%s: %s' % (guest.name, bad[0]))
        have = collections.Counter((d['prog'], d['fn']) for d in rdraws(guest) if pred(d))
        return all(have[(p.name, fn)] >= min(p.want, most or p.want)
                   for p in progs for fn in p.functions)
    vs.wait_lines(guest, 'not every program drew %s' % what, get, timeout)


def start_programs(g, progs):
    """Start every program with its lines on the console; check what each says it uses."""
    for p in progs:
        g.run(p.command() + ' >/dev/ttyS0 2>&1 &')
    starts = {}
    for p in progs:
        _, _, m = g.wait_console(r'^RSTART prog=%s (.*)$' % re.escape(p.name), timeout=120)
        starts[p.name] = dict(kv.split('=', 1) for kv in m.group(1).split(' '))
    for p in progs:
        st = starts[p.name]
        if p.name.startswith('shim'):
            shim = SHIM_OBSERVED if p.observed else SHIM
            check(st['getrandom'] == shim and st['arc4random_buf'] == shim,
                  '%s: getrandom and arc4random_buf are the shim\'s (%s)' % (p.name, shim))
        elif p.name == 'glibc':
            check(st['getrandom'].endswith('/libc.so.6') and
                  st['arc4random_buf'].endswith('/libc.so.6'),
                  'glibc: getrandom and arc4random_buf are libc\'s (%s)' % st['getrandom'])
        elif p.name.startswith('provider'):
            check(st['rand'] == 'SNAPSAFE' and st['provider'] == 'snapsafe',
                  '%s: RAND_bytes() draws from SNAPSAFE @ snapsafe (%s @ %s)' % (
                      p.name, st['rand'], st['provider']))
        elif p.name == 'openssl':
            check(st['rand'] == 'CTR-DRBG' and st['provider'] == 'default',
                  'openssl: RAND_bytes() draws from OpenSSL\'s CTR-DRBG (%s @ %s)' % (
                      st['rand'], st['provider']))
        if 'observed' in st:
            check(st['observed'] == str(int(p.observed)), '%s: observed=%d' % (
                p.name, p.observed))


# ---- what the clones drew ---------------------------------------------------------------------

def leftovers(clones):
    """Lines every clone printed identically: written before the snapshot and still in the
    guest's console buffer at the stop, so every clone sends them after its resume. (A draw
    made after the resume cannot be identical in three clones down to the nanosecond of its
    CLOCK_MONOTONIC stamp: each clone's clock runs on its own host process's time.)"""
    sets = [{d['line'] for d in rdraws(c)} for c in clones]
    return set.intersection(*sets)


def repeats(per_clone, before=()):
    """(draws, repeated): how many strings the clones drew, and how many of those another
    clone drew too, or were drawn before the snapshot."""
    clones = collections.defaultdict(set)
    for clone, strings in per_clone.items():
        for b in strings:
            clones[b].add(clone)
    before = set(before)
    draws = [b for strings in per_clone.values() for b in strings]
    return len(draws), sum(1 for b in draws if len(clones[b]) > 1 or b in before)


def tally(progs, clones, before, after, window):
    """Per program and function: the draws that began after the event (after(clone, d)), and
    those in the window (window(clone, d), leftovers of the snapshot excluded), with their
    repeats and paths."""
    left = leftovers(clones)
    out = {}
    for p in progs:
        for fn in p.functions:
            mine = {c.name: [d for d in rdraws(c) if d['prog'] == p.name and d['fn'] == fn]
                    for c in clones}
            prior = [d['bytes'] for d in before if d['prog'] == p.name and d['fn'] == fn]
            prior += [d['bytes'] for ds in mine.values() for d in ds if d['line'] in left]
            post = {c: [d for d in ds if after(c, d)] for c, ds in mine.items()}
            win = {c: [d for d in ds if d['line'] not in left and window(c, d)]
                   for c, ds in mine.items()}
            k, r = repeats({c: [d['bytes'] for d in ds] for c, ds in post.items()}, prior)
            wk, wr = repeats({c: [d['bytes'] for d in ds] for c, ds in win.items()})
            # Every draw of the clones that an observed engine served, the window's too.
            ek, er = repeats({c: [d['bytes'] for d in ds if d['line'] not in left and
                                  d['path'] == 'engine'] for c, ds in mine.items()}, prior)
            out['%s %s' % (p.name, fn)] = {
                'role': p.role, 'what': p.what, 'draws_after': k, 'repeated_after': r,
                'paths_after': dict(collections.Counter(d['path'] for ds in post.values()
                                                        for d in ds)),
                'draws_window': wk, 'repeated_window': wr,
                'draws_engine': ek, 'repeated_engine': er,
                'paths_window': dict(collections.Counter(d['path'] for ds in win.values()
                                                         for d in ds)),
                'leftovers': sum(1 for ds in mine.values() for d in ds if d['line'] in left)
                // len(clones),
            }
    return out


def check_tally(flow, progs, t, what, engine_after, engine_unique=False):
    """Under snapsafe nothing repeats after the event, and with engine_after the observed
    engines served it all; with engine_unique no draw an observed engine served in the
    clones repeats, the window's included; the OpenSSL control repeats (the negative
    control)."""
    for p in progs:
        for fn in p.functions:
            r = t['%s %s' % (p.name, fn)]
            if p.role == 'snapsafe':
                check(r['repeated_after'] == 0,
                      '%s: %s %s: none of %d draws that began %s repeats across the clones or '
                      'anything drawn before the snapshot' % (flow, p.name, fn,
                                                             r['draws_after'], what))
                if p.observed and engine_after:
                    check(set(r['paths_after']) == {'engine'},
                          '%s: %s %s: the engine served every draw that began %s (%s)' % (
                              flow, p.name, fn, what, r['paths_after']))
                if p.observed and engine_unique:
                    check(r['draws_engine'] > 0 and r['repeated_engine'] == 0,
                          '%s: %s %s: none of the %d draws the engine served in the clones '
                          'repeats' % (flow, p.name, fn, r['draws_engine']))
            if p.name == 'openssl':
                check(r['repeated_after'] > 0,
                      '%s: openssl (negative control): OpenSSL\'s DRBG repeats across the '
                      'clones (%d of %d draws after the event)' % (
                          flow, r['repeated_after'], r['draws_after']))
    for key, r in t.items():
        vmlib.log('%s: %-30s %3d draws, %3d repeated %s; window: %2d draws, %d repeated %s; '
                  '%d left over' % (flow, key, r['draws_after'], r['repeated_after'],
                                    r['paths_after'], r['draws_window'], r['repeated_window'],
                                    r['paths_window'], r['leftovers']))


def restore(s, kernel, initrd, snap, prefix):
    return s.restore_clones(kernel, initrd, snap,
                            [('%s%d' % (prefix, i), str(uuid.uuid4())) for i in (1, 2, 3)])


# ---- the scenarios ----------------------------------------------------------------------------

def scenario_notifiers(s, kernel, initrd, g, progs):
    """Snapshot the running guest, three clones with new GUIDs: nothing drawn under snapsafe
    after the rise repeats. Leaves g paused."""
    res = s.results.setdefault('notifiers', {})
    gen0 = status(g)['generation']
    snap = os.path.join(s.work, 'notifiers.snap')
    g.snapshot(snap)
    before = rdraws(g)
    clones = restore(s, kernel, initrd, snap, 'n')
    for c in clones:
        wait_all(c, progs, lambda d: d['gen'] > gen0, 'after the rise')
        st = status(c)
        check(st['generation'] > gen0, '%s: the generation rose %d -> %d' % (
            c.name, gen0, st['generation']))
        res.setdefault('generations', {})[c.name] = st['generation']
    t = tally(progs, clones, before, lambda c, d: d['gen'] > gen0,
              lambda c, d: d['gen'] == gen0)
    for c in clones:
        c.stop()
    os.unlink(snap)
    res['programs'] = t
    check_tally('notifiers', progs, t, 'after the rise', True)


def scenario_quiesce(s, kernel, initrd, g, progs):
    """The guest goes on, quiesces, is snapshotted; three clones with new GUIDs count the VM
    fork, then each is resumed: nothing drawn under snapsafe after the fork was counted
    repeats, and the engine serves only after the resume."""
    res = s.results.setdefault('quiesce', {})
    g.cont()
    g.run(CTL + ' quiesce')
    st = status(g)
    check(st['quiesced'] is True, '%s: status says quiesced after snapsafectl quiesce' % g.name)
    gen_q = st['generation']
    mono_q = g.guest_mono()
    wait_all(g, progs, lambda d: d['mono'] > mono_q, 'after the quiesce', most=1)
    for p in progs:
        if p.observed:
            paths = {d['path'] for d in rdraws(g) if d['prog'] == p.name and
                     d['mono'] > mono_q}
            check(paths == {'kernel'}, '%s: %s: the engine stopped serving while quiesced '
                  '(%s)' % (g.name, p.name, paths))
    snap = os.path.join(s.work, 'quiesce.snap')
    g.snapshot(snap)
    before = rdraws(g)
    g.stop()

    clones = restore(s, kernel, initrd, snap, 'q')
    gens, resumed = {}, {}
    for c in clones:
        # The vmfork-kmsg notifier counts the VM fork while quiesced: let every program draw
        # after it (from the kernel), then resume, as a control plane would.
        wait_all(c, progs, lambda d: d['gen'] > gen_q, 'after the VM fork was counted',
                 most=1)
        st = status(c)
        check(st['quiesced'] is True and st['generation'] > gen_q,
              '%s: the VM fork raised %d -> %d, still quiesced' % (c.name, gen_q,
                                                                  st['generation']))
        c.run(CTL + ' resume --json')
        # Answered once the page says it all: a draw that begins after this finds the new
        # generation and no quiesce. (Between the daemon's two stores a draw may see the
        # new generation with the quiesce still set: the kernel serves it, as it should.)
        resumed[c.name] = c.guest_mono()
        st = status(c)
        check(st['quiesced'] is False and st['generation'] > gen_q + 1,
              '%s: after resume: quiesced %s, generation %d' % (c.name, st['quiesced'],
                                                               st['generation']))
        gens[c.name] = st['generation']
    for c in clones:
        wait_all(c, progs, lambda d, c=c: d['mono'] > resumed[c.name], 'after the resume')
    res['resumed_at'] = gens
    for c in clones:
        for p in progs:
            if not p.observed:
                continue
            ds = [d for d in rdraws(c) if d['prog'] == p.name]
            early = {d['path'] for d in ds if d['gen_after'] < gens[c.name]}
            late = {d['path'] for d in ds if d['mono'] > resumed[c.name]}
            check(early <= {'kernel'} and late == {'engine'},
                  '%s: %s: the kernel served every draw before the resume (%s), the engine '
                  'every one after it (%s)' % (c.name, p.name, early, late))
    t = tally(progs, clones, before, lambda c, d: d['gen'] > gen_q,
              lambda c, d: d['gen'] == gen_q)
    for c in clones:
        c.stop()
    os.unlink(snap)
    res['programs'] = t
    check_tally('quiesce', progs, t, 'after the VM fork was counted', False, True)


def body(s, args):
    kernel = vmlib.fetch_kernel(args.kernel)
    progs = vs.build_guest_programs(args, RETROFIT_BUILDS)
    initrd, conf = make_initramfs(progs, os.path.join(s.work, 'initrd.cpio'))
    s.results['kernel'] = kernel.release
    guest_progs = programs(conf)
    g = s.boot('rorig', kernel, initrd)
    s.start_daemon(g)
    st = status(g)
    check(st['notifiers'].get('vmfork-kmsg') is True,
          'rorig: the vmfork-kmsg notifier is live (%s)' % st['notifiers'])
    start_programs(g, guest_progs)
    wait_all(g, guest_progs, lambda d: True, 'before the snapshot')
    for p in guest_progs:
        if p.observed:
            paths = {d['path'] for d in rdraws(g) if d['prog'] == p.name}
            check(paths == {'engine'}, 'rorig: %s: the engine serves (%s)' % (p.name, paths))
    scenario_notifiers(s, kernel, initrd, g, guest_progs)
    scenario_quiesce(s, kernel, initrd, g, guest_progs)


def main():
    ap = vs.arg_parser(__doc__.splitlines()[0])
    vs.add_program_args(ap, RETROFIT_BUILDS)
    args = ap.parse_args()
    return vs.run(args, body, os.path.join('test', 'vm', 'retrofit-' + args.kernel))


if __name__ == '__main__':
    sys.exit(main())
