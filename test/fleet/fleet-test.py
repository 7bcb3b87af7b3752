#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""fleet-test: a host drives snapsafe in its guests over vsock, across a snapshot and clones
(docs/fleet.md). Two scenarios, one QEMU guest each (Debian's 6.12 cloud kernel, TCG):

  fleet     snapsafed --vsock-port in a guest whose vsock device is vhost-user (the
            vhost-device-vsock backend, a hybrid vsock socket on the host), with fleet-app
            drawing random bytes as a watcher. The host (orchestrator.py) quiesces it over
            vsock, unplugs the device, snapshots, restores four clones with new vmgenid GUIDs,
            plugs a device into each, then resumes three of them and waits for their watchers
            with one snapsafectl command each, and only then calls each ready. Asserted: the
            application in each acknowledged the new generation before its clone was called
            ready; no draw repeats across the clones or with the original; the daemon logged
            no warning about the resets. A clone whose re-plugged device never answers (every
            CONNECT times out: QEMU's or the backend's, seen on saturated hosts) is dropped
            and another restored in its place, as docs/fleet.md advises; once per run, and
            the replacement is held to everything the others are. The fourth clone is the negative control: its
            application holds its acknowledgement and the host calls it ready when resume
            answers, without waiting: then the daemon still counts it outdated.
  loopback  the daemon's vsock listener from inside a guest (vsock_loopback, CID 1): without
            AF_VSOCK --vsock-port is exit 2; by default CID 1 reads (status, wait-watchers)
            and is refused trigger, quiesce, resume; --vsock-allow local:control lets it;
            a CID that no rule names is refused at connect; with one connection per CID, a
            second is refused while the first waits.

Exit 0 pass, 1 fail (consoles and daemon logs printed), 77 when QEMU cannot run.
"""

import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'vm'))
sys.path.insert(0, os.path.join(HERE, '..', 'vmclock'))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import vmlib  # noqa: E402
import vmscenario as vs  # noqa: E402
from vmscenario import check  # noqa: E402
import orchestrator as orch  # noqa: E402
import vmclock_host as newer  # noqa: E402


class NewerQemuGuest(vmlib.Guest):
    """A guest of Debian 13's QEMU (fetched once, as for the vmclock suite). The fleet
    scenario re-plugs a vhost-user-vsock device into each restored clone: on a host whose
    cores were saturated, a clone's device sometimes never answers (docs/fleet.md), about one
    run in four with Debian 12's QEMU 7.2, two in about seventeen with QEMU 11."""

    qemu = None

    def command_line(self):
        return self.qemu.prefix() + super().command_line()[1:]


class NewerQemuSession(vs.Session):
    def guest(self, name, kernel, initrd, **kw):
        g = NewerQemuGuest(self.work, name, kernel, initrd, **kw)
        self.guests.append(g)
        return g

PORT = 7000
GUEST_CID = 3
VSOCK_MODULES = ['vsock', 'vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport',
                 'vsock_loopback']
APP_LINE = re.compile(r'^(DRAW|SEEN|ACKED) gen=(\d+) mono=(\d+)(?: bytes=([0-9a-f]+))?')
HOLD = '/tmp/hold-ack'
GCTL = 'snapsafectl'
CLONES = 3


# ---- the host's side: the backend, the guest's extra QEMU arguments -------------------------

def fetch_backend():
    """vhost-device-vsock from Debian sid, fetched once into the cache; returns the command
    prefix that runs it through its own loader."""
    fetch = os.path.join(vmlib.source_root(), 'test', 'helpers', 'fetch-debian-root.sh')
    r = subprocess.run([fetch, '--suites', 'sid', '--resolve', 'vhost-device-vsock',
                        'vhost-device-vsock'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise vmlib.VmError('cannot fetch vhost-device-vsock:\n' + r.stderr)
    root = r.stdout.strip().splitlines()[-1]
    lib = os.path.join(root, 'usr', 'lib', 'x86_64-linux-gnu')
    return [os.path.join(lib, 'ld-linux-x86-64.so.2'), '--library-path', lib,
            os.path.join(root, 'usr', 'bin', 'vhost-device-vsock')]


class Backend:
    """One vhost-device-vsock process: the vhost-user socket QEMU connects to, and the hybrid
    vsock socket (uds) the host's snapsafectl connects to."""

    def __init__(self, cmd, name, logdir):
        self.dir = tempfile.mkdtemp(prefix='vsock-%s-' % name)
        self.socket = os.path.join(self.dir, 'vhost.sock')
        self.qmp = os.path.join(self.dir, 'qmp')     # its guest's QMP for the orchestrator
        self.uds = os.path.join(self.dir, 'v.sock')
        self.log = open(os.path.join(logdir, name + '.vhost-device-vsock.log'), 'w')
        self.proc = subprocess.Popen(cmd + ['--guest-cid', str(GUEST_CID), '--socket',
                                            self.socket, '--uds-path', self.uds],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise vmlib.VmError('vhost-device-vsock exited (%d), see %s' % (
                    self.proc.returncode, self.log.name))
            if time.monotonic() > deadline:
                self.stop()
                raise vmlib.VmError('vhost-device-vsock made no socket in 60 s')
            try:
                self.proc.wait(timeout=0.02)    # returns at once if the backend dies
            except subprocess.TimeoutExpired:
                pass

    def target(self):
        return '%s:%d' % (self.uds, PORT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def qemu_args(qmp, backend=None):
    """Shared memory (vhost-user needs it), a PCIe root port to plug the device into, a QMP
    socket for the orchestrator (vmlib holds the other), and, for a fresh boot, the device
    itself. Identical for the original and its clones but for the device, which the original
    no longer has when it is snapshotted."""
    args = ['-object', 'memory-backend-memfd,id=mem,size=256M,share=on',
            '-machine', 'memory-backend=mem',
            '-device', 'pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1',
            '-qmp', 'unix:%s,server=on,wait=off' % qmp]
    if backend:
        args += ['-chardev', 'socket,id=vsockchr,path=' + backend.socket,
                 '-device', 'vhost-user-vsock-pci,chardev=vsockchr,id=vsock0,bus=rp0']
    return args


def make_initramfs(progs, kernel, out):
    """vmscenario's guest programs, fleet-app, and the vsock modules (decompressed: busybox's
    insmod takes plain .ko files), loaded by /bin/load-vsock."""
    ird = vs.initramfs(progs)
    ird.add_file('/bin/fleet-app', progs['app'], 0o755)
    kdir = os.path.join(kernel.root, 'lib', 'modules', kernel.release, 'kernel', 'net',
                        'vmw_vsock')
    for m in VSOCK_MODULES:
        with open(os.path.join(kdir, m + '.ko.xz'), 'rb') as f:
            ird.add_bytes('/lib/modules/%s.ko' % m, lzma.decompress(f.read()))
    ird.add_bytes('/bin/load-vsock', ('#!/bin/sh\nset -e\n' + ''.join(
        'insmod /lib/modules/%s.ko\n' % m for m in VSOCK_MODULES)).encode(), 0o755)
    return ird.write(out)


# ---- reading the application's lines --------------------------------------------------------

def app_lines(g, kind):
    out = []
    for host_ns, line in g.console_lines():
        m = APP_LINE.match(line)
        if m and m.group(1) == kind:
            out.append({'gen': int(m.group(2)), 'mono': int(m.group(3)), 'bytes': m.group(4),
                        'host_ns': host_ns})
    return out


def wait_app(g, kind, pred, timeout=60):
    return vs.wait_lines(g, 'no matching %s line of fleet-app' % kind,
                         lambda: [e for e in app_lines(g, kind) if pred(e)], timeout)


def start_app(s, g, daemon_args):
    s.start_daemon(g, daemon_args)
    g.run('SNAPSAFE_RUNTIME_DIR=%s fleet-app 50 %s >/dev/ttyS0 2>&1 &' % (vs.RUNTIME, HOLD))
    g.wait_console(r'^WATCHING gen=', timeout=60)


def daemon_problems(g):
    """Warnings and errors in the daemon's log once it was ready (a reset vsock connection
    must be neither)."""
    _, out = g.run("sed -n '/Ready:/,$p' /tmp/snapsafed.log | grep -E '^<[0-4]>' || true")
    return [ln for ln in out.splitlines() if ln.strip()]


# ---- scenario: fleet --------------------------------------------------------------------------

def run_orchestrator(ctl, *args, partial=False):
    """orchestrator.py as a program, as an operator runs it; returns its JSON, with @partial
    also when some clones failed (exit 1 with a result), so that the caller sees which."""
    r = subprocess.run([sys.executable, os.path.join(HERE, 'orchestrator.py'), '--ctl', ctl] +
                       list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    if r.returncode != 0 and not (partial and r.returncode == 1 and r.stdout.strip()):
        raise vmlib.VmError('orchestrator.py %s: exit %d\n%s%s' % (
            args[0], r.returncode, r.stdout, r.stderr))
    return json.loads(r.stdout)


def never_connected(result):
    """A resume that never got through the clone's vsock device: every CONNECT through the
    backend timed out (docs/fleet.md: a re-plugged vhost-user device that never answers, QEMU's
    or the backend's, seen on saturated hosts). Anything else is a real failure."""
    return (result.get('ok') is False and result.get('errno') == 'ETIMEDOUT' and
            'CONNECT' in result.get('error', ''))


def restore_clone(s, kernel, initrd, snap, backend_cmd, name, backends):
    """A clone of @snap with a new vmgenid GUID and a backend of its own, started."""
    b = Backend(backend_cmd, name, s.work)
    backends.append(b)
    c = s.guest(name, kernel, initrd, guid=str(uuid.uuid4()), incoming=snap,
                extra_args=qemu_args(b.qmp))
    c.backend = b
    c.start()
    return c


def after_args(clones):
    return [a for c in clones for a in ('--clone', '%s,%s,%s' % (
        c.backend.qmp, c.backend.socket, c.backend.target()))]


def scenario_fleet(s, args, kernel, initrd, backend_cmd, ctl):
    res = s.results.setdefault('fleet', {})
    backends = []
    try:
        b0 = Backend(backend_cmd, 'orig', s.work)
        backends.append(b0)
        g = s.guest('orig', kernel, initrd, extra_args=qemu_args(b0.qmp, b0))
        g.start()
        g.wait_booted()
        g.run('load-vsock')
        start_app(s, g, '--vsock-port %d' % PORT)
        vs.wait_lines(g, 'fewer than 10 draws', lambda: len(app_lines(g, 'DRAW')) >= 10, 60)

        # Before the snapshot: quiesce over vsock, then the device goes.
        t0 = time.monotonic()
        before = run_orchestrator(ctl, 'before', '--guest', '%s,%s' % (b0.qmp, b0.target()))
        res['quiesce_ms'] = before['quiesce'][b0.target()]['ms']
        res['before_s'] = round(time.monotonic() - t0, 2)
        snap = os.path.join(s.work, 'fleet.snap')
        res['snapshot_s'] = round(g.snapshot(snap), 2)
        orig_draws = app_lines(g, 'DRAW')
        g.stop()
        b0.stop()
        check(len(orig_draws) >= 10, 'orig: %d draws before the snapshot' % len(orig_draws))

        # Restore: CLONES clones and the control, each with a new vmgenid GUID, then a
        # device each.
        clones = [restore_clone(s, kernel, initrd, snap, backend_cmd,
                                'ctrl' if i == CLONES else 'clone%d' % (i + 1), backends)
                  for i in range(CLONES + 1)]
        for c in clones:
            c.wait_incoming()
        for c in clones:
            c.resume()
        ctrl = clones[-1]
        ctrl.run('touch ' + HOLD)
        orch.plug_vsock(ctrl.qmp, 'vsock0', 'vsockchr', ctrl.backend.socket, 'rp0')
        fleet_clones = clones[:CLONES]

        # The fleet step, right after the plugs (the first connections are reset until the
        # guest has probed its new device, and snapsafectl tries again): resume all, wait
        # for their watchers, only then ready.
        step = run_orchestrator(ctl, 'after', *after_args(fleet_clones), partial=True)
        # A clone whose device never answered is dropped and another restored in its place,
        # as docs/fleet.md tells an orchestrator to do: once per run at most, and the
        # replacement must pass everything the others do.
        lost = [c for c in fleet_clones
                if never_connected(step['resume'].get(c.backend.target(), {}))]
        check(len(lost) <= 1 and all(c in lost or step['resume'].get(
            c.backend.target(), {}).get('ok') for c in fleet_clones),
            'the fleet step resumed every clone but at most one whose vsock device never '
            'answered (%s)' % step['resume'])
        res['replaced'] = []

        def replace(c, err):
            check(not res['replaced'], '%s: vsock never answered (%s), the first clone of the '
                  'run to be replaced (before it: %s)' % (c.name, err, res['replaced']))
            vmlib.log('%s: its re-plugged vsock device never answered (%s): dropped, and '
                      'another clone restored in its place' % (c.name, err))
            res['replaced'].append({'clone': c.name, 'error': err})
            c.stop()
            c.backend.stop()
            r = restore_clone(s, kernel, initrd, snap, backend_cmd, c.name + 'r', backends)
            r.wait_incoming()
            r.resume()
            clones[clones.index(c)] = r
            return r

        for c in lost:
            r = replace(c, step['resume'][c.backend.target()].get('error'))
            again = run_orchestrator(ctl, 'after', *after_args([r]))
            for k in ('plugged_at', 'resume', 'wait', 'ready_at'):
                step[k].update(again[k])
            fleet_clones[fleet_clones.index(c)] = r
        targets = [c.backend.target() for c in fleet_clones]
        plug_t = {c.name: step['plugged_at'][c.backend.target()] for c in fleet_clones}
        res['fleet_step_ms'] = round(step['ms'], 1)
        vmlib.log('fleet step (resume + wait-watchers, %d clones): %.0f ms' % (
            CLONES, step['ms']))
        marks = {c.name: c.guest_mono() for c in fleet_clones}
        res['resume'] = {}
        for c in fleet_clones:
            t = c.backend.target()
            r, w = step['resume'].get(t, {}), step['wait'].get(t, {})
            check(r.get('ok') is True and r.get('quiesced') is False,
                  '%s: resumed over vsock (%s)' % (c.name, r))
            check(w.get('ok') is True and w.get('timed_out') is False,
                  '%s: wait-watchers over vsock returned (%s)' % (c.name, w))
            check(c.backend.target() in step['ready_at'], '%s: declared ready' % c.name)
            res['resume'][c.name] = {'ms': r['ms'], 'attempts': r['attempts'],
                                     'plug_to_answer_ms': round(
                                         (step['ready_at'][c.backend.target()] -
                                          plug_t[c.name]) * 1000)}
            gen = r['generation']
            acked = [e for e in app_lines(c, 'ACKED') if e['gen'] == gen] or \
                wait_app(c, 'ACKED', lambda e, gen=gen: e['gen'] == gen)
            check(acked[0]['mono'] < marks[c.name],
                  '%s: fleet-app acknowledged generation %d before the clone was declared '
                  'ready' % (c.name, gen))

        # After ready: the daemons agree, and how fast a round trip is now.
        rc, st, _, _ = orch.fleet(ctl, targets, 'status')
        check(rc == 0 and all(o['outdated'] == 0 and not o['quiesced'] for o in st.values()),
              'after ready: no watcher outdated, none quiesced (%s)' % st)
        rtt = []
        for _ in range(3):
            _, st, _, _ = orch.fleet(ctl, targets, 'status')
            rtt += [o['ms'] for o in st.values()]
        res['status_round_trip_ms'] = {'min': min(rtt), 'max': max(rtt)}

        # The negative control: ready when resume answers, without waiting.
        neg = orch.resume_without_waiting(ctl, [ctrl.backend.target()])
        r = neg['resume'].get(ctrl.backend.target(), {})
        if never_connected(r):
            ctrl = replace(ctrl, r.get('error'))
            ctrl.run('touch ' + HOLD)
            orch.plug_vsock(ctrl.qmp, 'vsock0', 'vsockchr', ctrl.backend.socket, 'rp0')
            neg = orch.resume_without_waiting(ctl, [ctrl.backend.target()])
            r = neg['resume'].get(ctrl.backend.target(), {})
        mark = ctrl.guest_mono()
        check(r.get('ok') is True, 'ctrl: resumed over vsock (%s)' % r)
        gen = r['generation']
        _, st, _, _ = orch.fleet(ctl, [ctrl.backend.target()], 'status')
        st = list(st.values())[0]
        check(st.get('outdated', 0) >= 1,
              'ctrl (negative control): called ready without waiting, its daemon still counts '
              '%d outdated watcher(s)' % st.get('outdated', 0))
        ctrl.run('rm ' + HOLD)
        late = wait_app(ctrl, 'ACKED', lambda e: e['gen'] == gen)
        check(late[0]['mono'] > mark,
              'ctrl (negative control): fleet-app acknowledged generation %d only after the '
              'clone was called ready' % gen)

        # No draw repeats, across the clones and with the original, from the first raise in
        # each clone on. Before it a clone is still quiesced and its draws come from the
        # kernel, whose own window (until it has handled the vmgenid notification, its vDSO
        # state is the snapshot's) is counted and reported, not snapsafe's to close.
        gen_snap = orig_draws[-1]['gen']
        for c in clones:
            vs.wait_lines(c, 'fewer than 10 draws after the first raise', lambda c=c: len(
                [d for d in app_lines(c, 'DRAW') if d['gen'] > gen_snap]) >= 10, 60)
        seen, repeats, kernel_window = {}, [], []
        for who, ds in [('orig', orig_draws)] + [(c.name, app_lines(c, 'DRAW')) for c in clones]:
            for d in ds:
                if d['bytes'] in seen and seen[d['bytes']][0] != who:
                    first = seen[d['bytes']]
                    after = who != 'orig' and d['gen'] > gen_snap or first[1] > gen_snap
                    (repeats if after else kernel_window).append((first[0], who, d['bytes']))
                seen.setdefault(d['bytes'], (who, d['gen'] if who != 'orig' else -1))
        res['draws'] = len(seen)
        res['draws_after_raise'] = sum(1 for w, g in seen.values() if w != 'orig' and
                                       g > gen_snap)
        res['kernel_window_repeats'] = len(kernel_window)
        vmlib.log('draws: %d distinct; repeated before the first raise (the kernel\'s window): '
                  '%d' % (len(seen), len(kernel_window)))
        check(not repeats, 'no draw after the first raise in a clone repeats one of another clone '
              'or of the original (%d distinct draws; repeats: %s)' % (len(seen), repeats[:5]))
        for c in clones:
            problems = daemon_problems(c)
            check(not problems, '%s: the daemon logged no warning or error (%s)' % (
                c.name, problems))
    finally:
        for b in backends:
            b.stop()


# ---- scenario: loopback -----------------------------------------------------------------------

def vctl(g, cmd, allow_fail=True):
    """snapsafectl over vsock to the guest itself (CID 1); returns (exit code, output)."""
    return g.run('%s --json --deadline 10000 --vsock 1:%d %s' % (GCTL, PORT, cmd), timeout=60,
                 check=not allow_fail)


def restart_daemon(s, g, daemon_args):
    """Stop the guest's snapsafed (at most 30 s of guest time) and start it with daemon_args."""
    g.run('kill $(pidof snapsafed); i=0; while pidof snapsafed >/dev/null; do '
          'i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done', timeout=60)
    s.start_daemon(g, daemon_args)


def scenario_loopback(s, args, kernel, initrd):
    res = s.results.setdefault('loopback', {})
    g = s.guest('loop', kernel, initrd)
    g.start()
    g.wait_booted()
    # No vsock in the kernel yet: an explicit --vsock-port cannot work.
    rc, out = g.run('snapsafed --runtime-dir /run/novsock --vsock-port %d 2>&1' % PORT,
                    timeout=60, check=False)
    check(rc == 2 and 'no AF_VSOCK' in out, 'without vsock modules: exit 2 and why (%d: %s)'
          % (rc, out.strip()))
    g.run('load-vsock')
    s.start_daemon(g, '--vsock-port %d' % PORT)
    rc, out = vctl(g, 'status')
    check(rc == 0 and '"ok":true' in out, 'CID 1 may read: status (%d %s)' % (rc, out))
    rc, out = vctl(g, 'wait-watchers --timeout 0')
    check(rc == 0, 'CID 1 may read: wait-watchers (%d %s)' % (rc, out))
    for req in ('quiesce', 'resume', 'trigger'):
        rc, out = vctl(g, req)
        check(rc == 4 and '"errno":"EACCES"' in out, 'CID 1 is refused %s (%d %s)' % (
            req, rc, out))
    st = vs.status(g)
    check(st['generation'] == 0 and not st['quiesced'],
          'the refusals changed nothing (generation %d, quiesced %s)' % (
              st['generation'], st['quiesced']))
    _, log = g.run('cat /tmp/snapsafed.log')
    check('Refused QUIESCE from vsock CID 1' in log, 'the refusal is in the audit trail')
    res['refused'] = True

    # The refusal is the policy's: with local:control the same requests work.
    restart_daemon(s, g, '--vsock-port %d --vsock-allow local:control' % PORT)
    rc, out = vctl(g, 'quiesce')
    check(rc == 0 and '"quiesced":true' in out, 'local:control: CID 1 may quiesce (%s)' % out)
    rc, out = vctl(g, 'resume')
    check(rc == 0, 'local:control: CID 1 may resume (%s)' % out)

    # A CID no rule names is refused at connect.
    restart_daemon(s, g, '--vsock-port %d --vsock-allow host:control' % PORT)
    rc, out = vctl(g, 'status')
    check(rc == 4 and 'may not connect' in out, 'host:control only: CID 1 refused at connect '
          '(%d %s)' % (rc, out))
    res['policy'] = True

    # The limits hold for vsock peers, per CID: with one connection per CID, a second one
    # while the first waits (for a watcher that holds its acknowledgement) is refused.
    restart_daemon(s, g, '--vsock-port %d --max-clients-per-uid 1' % PORT)
    g.run('touch %s; SNAPSAFE_RUNTIME_DIR=%s fleet-app 50 %s >/dev/ttyS0 2>&1 &' % (
        HOLD, vs.RUNTIME, HOLD))
    g.wait_console(r'^WATCHING gen=', timeout=60)
    g.run(vs.CTL + ' trigger')
    rc, out = g.run('%s --json --vsock 1:%d --vsock 1:%d wait-watchers --timeout 3000' % (
        GCTL, PORT, PORT), timeout=60, check=False)
    errnos = sorted(re.findall(r'"errno":"(\w+)"', out))
    check(rc == 8 and errnos == ['EMFILE', 'ETIMEDOUT'],
          'one connection per CID: of two at once one waits (and times out), one is refused '
          '(%d %s)' % (rc, out))
    res['limits'] = True


def main():
    ap = vs.arg_parser('snapsafe driven over vsock across snapshots and clones')
    ap.add_argument('--scenario', choices=['fleet', 'loopback'], required=True)
    ap.add_argument('--app')
    ap.add_argument('--host-snapsafectl', required=True)
    args = ap.parse_args()

    def body(s, args):
        progs = vs.build_guest_programs(args, extra={'app': ('fleet-app', 'test/fleet')})
        kernel = vmlib.fetch_kernel('6.12', full=True)
        initrd = make_initramfs(progs, kernel, os.path.join(s.work, 'initrd.cpio'))
        if args.scenario == 'loopback':
            scenario_loopback(s, args, kernel, initrd)
        else:
            scenario_fleet(s, args, kernel, initrd, fetch_backend(), args.host_snapsafectl)

    session_class = None
    if args.scenario == 'fleet':
        try:
            NewerQemuGuest.qemu = newer.Qemu()
        except vmlib.VmSkip as e:
            vmlib.skip_or_fail(str(e))
        session_class = NewerQemuSession
    sys.exit(vs.run(args, body, 'fleet-test-' + args.scenario, session_class))


main()
