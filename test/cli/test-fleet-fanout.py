#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""snapsafectl's fleet mode (src/cli/fleet.c) without a VM: fake hybrid vsock sockets (what
Firecracker and vhost-device-vsock offer the host: CONNECT <port>, OK <port>, then the
guest's stream), each a thread of this test, and real snapsafed daemons on Unix sockets.

Usage: test-fleet-fanout.py SNAPSAFECTL SNAPSAFED
Every wait has a deadline and every command a timeout; nothing sleeps."""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CMD_TIMEOUT = 120
CTL, DAEMON = sys.argv[1], sys.argv[2]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print('FAIL: ' + msg, file=sys.stderr, flush=True)


class FakeGuest:
    """A hybrid vsock Unix socket in front of a fake daemon. handshake(conn_no) says what to
    do with connection number conn_no (from 1): 'ok', 'reset' (close at once), 'refuse' (an
    answer that is not OK), 'silent' (never answer). reply(request) is the daemon's line."""

    def __init__(self, path, port, reply, handshake=lambda n: 'ok', barrier=None):
        self.path, self.port, self.reply, self.handshake = path, port, reply, handshake
        self.barrier = barrier
        self.requests, self.connects, self.bad = [], 0, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.stop = threading.Event()
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connects += 1
            self.conns.append(c)
            threading.Thread(target=self._one, args=(c, self.connects), daemon=True).start()

    def _one(self, c, n):
        c.settimeout(60)
        try:
            f = c.makefile('rb')
            line = f.readline().decode()
            if line != 'CONNECT %d\n' % self.port:
                self.bad.append(line)
            how = self.handshake(n)
            if how == 'reset':
                c.close()
                return
            if how == 'refuse':
                c.sendall(b'ERR no listener\n')
                c.close()
                return
            if how == 'silent':
                self.stop.wait(60)
                return
            c.sendall(b'OK 1073741824\n')
            req = f.readline().decode().rstrip('\n')
            self.requests.append(req)
            if self.barrier:
                # Held until every fake has its request: a client that asks one target
                # after the other never gets here for the second (the barrier breaks).
                try:
                    self.barrier.wait(timeout=30)
                except threading.BrokenBarrierError:
                    c.sendall(b'ERR EIO the requests did not all arrive together\n')
                    return
            c.sendall((self.reply(req) + '\n').encode())
        except OSError:
            pass

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def status_reply(gen):
    return lambda req: ('OK version=1 generation=%d epoch=0x00000001 epoch_notifier=control '
                        'watchers=0 outdated=0 quiesced=0 last_raise_ns=0 '
                        'notifiers=control:live pid=%d daemon_version=test' % (gen, 100 + gen))


def ctl(*args, timeout=CMD_TIMEOUT, stdin=None):
    t0 = time.monotonic()
    r = subprocess.run([CTL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, input=stdin)
    return r, time.monotonic() - t0


def results(r):
    out = {}
    for line in r.stdout.splitlines():
        o = json.loads(line)
        out[o['target']] = o
    return out


def test_hundred_targets_are_asked_at_once(tmp):
    n = 100
    barrier = threading.Barrier(n)
    guests = [FakeGuest(os.path.join(tmp, 'g%d' % i), 7000 + i, status_reply(i), barrier=barrier)
              for i in range(n)]
    # 30 in a targets file, 70 as options (more than any fixed table would hold).
    with open(os.path.join(tmp, 'targets'), 'w') as f:
        f.write('# the fleet\n\n')
        for g in guests[:30]:
            f.write('vsock-uds:%s:%d\n' % (g.path, g.port))
    opts = [a for g in guests[30:] for a in ('--vsock-uds', '%s:%d' % (g.path, g.port))]
    r, secs = ctl('--json', '--targets', os.path.join(tmp, 'targets'), *opts, 'status',
                  *os.environ.get('FLEET_TEST_EXTRA', '').split())
    res = results(r) if r.returncode == 0 else {}
    check(r.returncode == 0, 'status on 100 targets: exit %d, stderr %s' % (
        r.returncode, r.stderr[-500:]))
    check(len(res) == n, '100 targets, %d results' % len(res))
    for i, g in enumerate(guests):
        o = res.get('vsock-uds:%s:%d' % (g.path, g.port), {})
        check(o.get('ok') is True and o.get('generation') == i and o.get('pid') == 100 + i,
              'target %d: %r' % (i, o))
        check(g.requests == ['STATUS'] and not g.bad, 'target %d got %r %r' % (
            i, g.requests, g.bad))
    print('100 targets: %.0f ms' % (secs * 1000), file=sys.stderr)
    for g in guests:
        g.close()


def test_resets_are_retried_until_an_answer(tmp):
    g = FakeGuest(os.path.join(tmp, 'reset'), 52, lambda req: 'OK 9',
                  handshake=lambda n: 'reset' if n <= 2 else 'refuse' if n == 3 else 'ok')
    r, _ = ctl('--json', '--vsock-uds', '%s:52' % g.path, 'resume')
    o = results(r).get('vsock-uds:%s:52' % g.path, {})
    check(r.returncode == 0 and o.get('ok') and o.get('generation') == 9 and
          o.get('quiesced') is False, 'resume after resets: %d %r %s' % (
              r.returncode, o, r.stderr))
    check(o.get('attempts') == 4, 'four attempts (two resets, one refusal): %r' % o)
    check(g.requests == ['RESUME'], 'the request was sent once: %r' % g.requests)
    g.close()


def test_a_silent_guest_fails_at_the_deadline(tmp):
    g = FakeGuest(os.path.join(tmp, 'silent'), 1, lambda req: 'OK 0',
                  handshake=lambda n: 'silent')
    r, secs = ctl('--json', '--deadline', '1500', '--vsock-uds', '%s:1' % g.path, 'quiesce')
    o = results(r).get('vsock-uds:%s:1' % g.path, {})
    check(r.returncode == 3 and o.get('ok') is False and o.get('exit') == 3 and
          o.get('errno') == 'ETIMEDOUT', 'silent guest: %d %r' % (r.returncode, o))
    check(1.4 < secs < 20, 'gave up after %.1f s with --deadline 1500' % secs)
    g.close()


def test_one_failure_among_many_is_exit_8(tmp):
    ok = FakeGuest(os.path.join(tmp, 'ok'), 5, lambda req: 'OK 3')
    denied = FakeGuest(os.path.join(tmp, 'denied'), 5,
                       lambda req: 'ERR EACCES permission denied')
    r, _ = ctl('--json', '--vsock-uds', ok.path + ':5', '--vsock-uds', denied.path + ':5',
               'trigger', '--min-gen', '7')
    res = results(r)
    check(r.returncode == 8, 'one of two refused: exit %d (want 8)' % r.returncode)
    check(res.get('vsock-uds:%s:5' % ok.path, {}).get('generation') == 3, 'ok: %r' % res)
    d = res.get('vsock-uds:%s:5' % denied.path, {})
    check(d.get('exit') == 4 and d.get('errno') == 'EACCES', 'denied: %r' % d)
    check(ok.requests == ['TRIGGER 7'], 'trigger --min-gen 7 sent %r' % ok.requests)
    r, _ = ctl('--vsock-uds', denied.path + ':5', 'quiesce')
    check(r.returncode == 4, 'one target refused: its own exit code 4, got %d' % r.returncode)
    check(('vsock-uds:%s:5: failed:' % denied.path) in r.stdout, 'text: %r' % r.stdout)
    ok.close()
    denied.close()


def test_wait_watchers_timeout_names_pids(tmp):
    g = FakeGuest(os.path.join(tmp, 'wait'), 9,
                  lambda req: 'ERR ETIMEDOUT outdated watcher pids: 12 34')
    r, _ = ctl('--json', '--vsock-uds', g.path + ':9', 'wait-watchers', '--timeout', '500')
    o = results(r).get('vsock-uds:%s:9' % g.path, {})
    check(r.returncode == 5 and o.get('timed_out') is True and
          o.get('outdated_pids') == [12, 34], 'wait timeout: %d %r' % (r.returncode, o))
    check(g.requests == ['WAIT 500'], 'sent %r' % g.requests)
    g.close()


def test_usage_errors(tmp):
    empty = os.path.join(tmp, 'empty')
    open(empty, 'w').close()
    r, _ = ctl('--targets', empty, 'status')
    check(r.returncode == 2 and 'names no target' in r.stderr, 'empty targets: %r' % r.stderr)
    bad = os.path.join(tmp, 'bad')
    with open(bad, 'w') as f:
        f.write('vsock:3:7000\nvsock:three:7000\n')
    r, _ = ctl('--targets', bad, 'status')
    check(r.returncode == 2 and bad + ':2:' in r.stderr, 'bad line: %r' % r.stderr)
    r, _ = ctl('--vsock', '3:7000', 'watch')
    check(r.returncode == 2, 'watch has no fleet mode: %d' % r.returncode)
    r, _ = ctl('--parallel', '4', 'status')
    check(r.returncode == 2, '--parallel without targets: %d' % r.returncode)


def wait_ready(proc, timeout=30):
    """Read the daemon's log until its 'Ready:' line, at most timeout s."""
    deadline, seen = time.monotonic() + timeout, b''
    fd = proc.stderr.fileno()
    while b'Ready:' not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        seen += chunk
    return True


def test_real_daemons_over_unix_sockets(tmp):
    procs, dirs = [], []
    try:
        for i in range(3):
            d = os.path.join(tmp, 'd%d' % i)
            os.mkdir(d)
            open(os.path.join(d, 'kmsg'), 'w').close()
            procs.append(subprocess.Popen([DAEMON, '--runtime-dir', d + '/rt', '--kmsg-path',
                                           d + '/kmsg', '--no-uevent'],
                                          stderr=subprocess.PIPE))
            dirs.append(d + '/rt')
        for p in procs:
            check(wait_ready(p), 'a daemon did not say Ready in 30 s')
        targets = ''.join('unix:%s\n' % d for d in dirs)
        r, _ = ctl('--json', '--targets', '-', 'quiesce', stdin=targets)
        check(r.returncode == 0 and all(o['quiesced'] for o in results(r).values()),
              'quiesce 3 daemons: %d %s' % (r.returncode, r.stdout))
        r, _ = ctl('--json', '--targets', '-', 'resume', stdin=targets)
        check(r.returncode == 0 and len(results(r)) == 3, 'resume: %s' % r.stdout)
        r, _ = ctl('--json', '--targets', '-', 'status', stdin=targets)
        for o in results(r).values():
            check(o['generation'] == 1 and o['quiesced'] is False, 'after resume: %r' % o)
        r, _ = ctl('--targets', '-', 'wait-watchers', '--timeout', '1000', stdin=targets)
        check(r.returncode == 0 and len(r.stdout.splitlines()) == 3, 'wait: %r' % r.stdout)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    tests = [test_hundred_targets_are_asked_at_once, test_resets_are_retried_until_an_answer,
             test_a_silent_guest_fails_at_the_deadline, test_one_failure_among_many_is_exit_8,
             test_wait_watchers_timeout_names_pids, test_usage_errors,
             test_real_daemons_over_unix_sockets]
    for t in tests:
        print('== ' + t.__name__, file=sys.stderr, flush=True)
        tmp = tempfile.mkdtemp(prefix='fleet-')
        try:
            t(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print('%d failure(s)' % len(failures), file=sys.stderr)
        sys.exit(1)


main()
