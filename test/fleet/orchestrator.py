# SPDX-License-Identifier: LGPL-2.1-or-later
"""orchestrator: a host's control plane around a snapshot, driving snapsafe in its guests
over vsock (docs/fleet.md walks through it). Python 3 standard library only; it needs the
guests' QMP sockets and snapsafectl, and knows nothing of the test harness, so that it reads
as an example:

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

import json
import subprocess
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
