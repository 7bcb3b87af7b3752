# SPDX-License-Identifier: LGPL-2.1-or-later
"""orchestrator: a host's control plane around a snapshot, driving snapsafe in its guests
over vsock (docs/fleet.md walks through it). Python 3 standard library only; it needs the
guests' QMP sockets and snapsafectl, and knows nothing of the test harness, so that it reads
as an example, and runs as one:

    orchestrator.py before --guest QMP,UDS:PORT            # then snapshot
    orchestrator.py after --clone QMP,BACKEND,UDS:PORT ...  # after the restore

The steps, as functions:

    before the snapshot            quiesce()       snapsafectl quiesce over vsock
                                   unplug_vsock()  device_del, DEVICE_DELETED, chardev-remove
    snapshot, restore the clones   (the hypervisor's business)
    after the restore, per clone   plug_vsock()    chardev-add, device_add
    all clones at once             resume_and_wait()  snapsafectl resume, then wait-watchers,
                                   each one command for the whole fleet; a clone is ready
                                   when its wait-watchers result says so, not before

QEMU refuses to migrate with a vhost-user vsock device attached, and open vsock connections
do not survive a snapshot anyway, so the device goes before the snapshot and comes back in
each clone; the guest's listening socket survives. snapsafectl tries each guest again until
its --deadline, because the first connections after the device comes back are reset.
"""

import argparse
import json
import socket
import subprocess
import sys
import threading
import time


class OrchestratorError(Exception):
    pass


def fleet(ctl, targets, subcommand, *args, deadline_ms=60000, timeout=180):
    """Run `snapsafectl --json SUBCOMMAND` on every target (PATH:PORT of a hybrid vsock socket,
    or CID:PORT) at once. Returns (exit code, {target: result}, {target: host monotonic s when
    its result arrived}, seconds in all), keyed by the targets as given. Results stream in as
    each guest answers."""
    given = {_name(t): t for t in targets}
    cmd = [ctl, '--json', '--deadline', str(deadline_ms)]
    for t in targets:
        cmd += ['--vsock-uds', t] if '/' in t else ['--vsock', t]
    cmd += [subcommand] + list(args)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # snapsafectl has its own deadline; this one also ends the reading below if it hangs.
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    results, arrived = {}, {}
    try:
        for line in p.stdout:
            o = json.loads(line)
            if o.get('target') in given:
                results[given[o['target']]] = o
                arrived[given[o['target']]] = time.monotonic()
        p.wait()
    finally:
        killer.cancel()
        p.stdout.close()
    if p.returncode < 0:
        raise OrchestratorError('snapsafectl %s did not end in %d s' % (subcommand, timeout))
    err = p.stderr.read()
    p.stderr.close()
    if p.returncode != 0 and not results:
        raise OrchestratorError('snapsafectl %s: exit %d: %s' % (subcommand, p.returncode, err))
    return p.returncode, results, arrived, time.monotonic() - t0


def quiesce(ctl, targets):
    """Before the snapshot: every guest's libraries serve from the kernel until resume."""
    rc, res, _, _ = fleet(ctl, targets, 'quiesce')
    bad = {t: o for t, o in res.items() if not o.get('ok')}
    if rc != 0 or bad:
        raise OrchestratorError('quiesce failed: %s' % bad)
    return res


def unplug_vsock(qmp, device, chardev, timeout=120):
    """Take the vsock device out of a running guest: device_del, then the DEVICE_DELETED
    event (the guest's PCIe hot-plug driver powers the slot off first), then the chardev."""
    since = len(qmp.events)
    qmp.execute('device_del', id=device)
    deadline = time.monotonic() + timeout
    while True:
        _, ev = qmp.wait_event('DEVICE_DELETED', timeout=max(1, deadline - time.monotonic()),
                               since=since)
        since = qmp.events.index(ev) + 1
        if ev.get('data', {}).get('device') == device:
            break
    qmp.execute('chardev-remove', id=chardev)


def plug_vsock(qmp, device, chardev, backend_socket, bus):
    """Give a restored guest its vsock device again, on the PCIe root port @bus: a chardev to
    the vhost-user backend's socket, then the device."""
    qmp.execute('chardev-add', id=chardev, backend={
        'type': 'socket', 'data': {'addr': {'type': 'unix', 'data': {'path': backend_socket}},
                                   'server': False}})
    qmp.execute('device_add', driver='vhost-user-vsock-pci', id=device, chardev=chardev,
                bus=bus)


def resume_and_wait(ctl, targets, wait_ms=30000, deadline_ms=60000):
    """The fleet step: `resume` on every clone at once, then `wait-watchers --timeout` on
    every clone at once. Returns {'resume': results, 'wait': results, 'ready_at': {target:
    host monotonic s when it was declared ready}, 'ms': the whole step}. A target is ready only
    when its wait-watchers result is ok: every watcher in it acknowledged the new generation."""
    t0 = time.monotonic()
    _, resumed, _, _ = fleet(ctl, targets, 'resume', deadline_ms=deadline_ms)
    ok = [t for t in targets if resumed.get(t, {}).get('ok')]
    waited, arrived = {}, {}
    if ok:
        _, waited, arrived, _ = fleet(ctl, ok, 'wait-watchers', '--timeout', str(wait_ms),
                                      deadline_ms=deadline_ms)
    ready = {t: arrived[t] for t, o in waited.items() if o.get('ok')}
    return {'resume': resumed, 'wait': waited, 'ready_at': ready,
            'ms': (time.monotonic() - t0) * 1000}


def resume_without_waiting(ctl, targets, deadline_ms=60000):
    """What not to do (the test's negative control): ready as soon as resume answers."""
    _, resumed, arrived, _ = fleet(ctl, targets, 'resume', deadline_ms=deadline_ms)
    return {'resume': resumed, 'ready_at': {t: arrived[t] for t, o in resumed.items()
                                            if o.get('ok')}}


def _name(target):
    """How snapsafectl names a target in its results."""
    return ('vsock-uds:' if '/' in target else 'vsock:') + target


# ---- as a program -----------------------------------------------------------------------------

class Qmp:
    """A minimal QMP client (one socket, no thread): execute() returns a command's result and
    keeps the events that came before it in .events; wait_event() reads until one comes. A
    guest needs a QMP socket of its own for this (QEMU takes one client per monitor):
    -qmp unix:PATH,server=on,wait=off."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile('rb')
        self.events = []
        if 'QMP' not in self._read():
            raise OrchestratorError('%s: no QMP greeting' % path)
        self.execute('qmp_capabilities')

    def _read(self):
        line = self.file.readline()
        if not line:
            raise OrchestratorError('QMP connection closed')
        return json.loads(line)

    def execute(self, cmd, **args):
        req = {'execute': cmd}
        if args:
            req['arguments'] = args
        self.sock.sendall(json.dumps(req).encode() + b'\n')
        while True:
            msg = self._read()
            if 'event' in msg:
                self.events.append(msg)
            elif 'error' in msg:
                raise OrchestratorError('QMP %s: %s' % (cmd, msg['error'].get('desc')))
            elif 'return' in msg:
                return msg['return']

    def wait_event(self, name, timeout=60, since=0):
        deadline = time.monotonic() + timeout
        while True:
            for i in range(since, len(self.events)):
                if self.events[i]['event'] == name:
                    return i, self.events[i]
            left = deadline - time.monotonic()
            if left <= 0:
                raise OrchestratorError('no QMP %s event in %d s' % (name, timeout))
            self.sock.settimeout(left)
            try:
                msg = self._read()
            except socket.timeout:
                continue
            if 'event' in msg:
                self.events.append(msg)

    def close(self):
        self.sock.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description='snapsafe around a snapshot, from the host: '
                                 '"before" quiesces guests and takes their vhost-user vsock '
                                 'device out; "after" gives clones a device again, resumes '
                                 'them and waits for their watchers (docs/fleet.md)')
    ap.add_argument('--ctl', default='snapsafectl', help='the host\'s snapsafectl')
    ap.add_argument('--device', default='vsock0', help='the vsock device\'s QEMU id')
    ap.add_argument('--chardev', default='vsockchr', help='its chardev\'s id')
    sub = ap.add_subparsers(dest='step', required=True)
    b = sub.add_parser('before', help='quiesce, then unplug (before the snapshot)')
    b.add_argument('--guest', action='append', required=True, metavar='QMP,TARGET',
                   help='a guest\'s QMP socket and its snapsafed (PATH:PORT or CID:PORT)')
    a = sub.add_parser('after', help='plug, resume, wait (after the restore, all at once)')
    a.add_argument('--clone', action='append', required=True, metavar='QMP,BACKEND,TARGET',
                   help='a clone\'s QMP socket, its vhost-user backend socket and its '
                   'snapsafed (PATH:PORT or CID:PORT)')
    a.add_argument('--bus', default='rp0', help='the PCIe root port to plug into')
    a.add_argument('--wait-ms', type=int, default=30000)
    args = ap.parse_args(argv)
    out = {}
    if args.step == 'before':
        guests = [g.split(',', 1) for g in args.guest]
        out['quiesce'] = quiesce(args.ctl, [t for _, t in guests])
        for path, _ in guests:
            q = Qmp(path)
            unplug_vsock(q, args.device, args.chardev)
            q.close()
        ok = True
    else:
        clones = [c.split(',', 2) for c in args.clone]
        out['plugged_at'] = {}
        for path, backend, target in clones:
            q = Qmp(path)
            plug_vsock(q, args.device, args.chardev, backend, args.bus)
            q.close()
            out['plugged_at'][target] = time.monotonic()
        out.update(resume_and_wait(args.ctl, [t for _, _, t in clones], wait_ms=args.wait_ms))
        ok = len(out['ready_at']) == len(clones)
    json.dump(out, sys.stdout)
    print()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
