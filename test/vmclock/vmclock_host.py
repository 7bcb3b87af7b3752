# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmclock_host: the vmclock suite's QEMU and guest kernel, fetched from Debian 13.

Debian 12's QEMU (7.2) has no VMClock device and its kernels no ptp_vmclock, so the suite
takes both from Debian 13 ("trixie") and its backports: qemu-system-x86 (10.0 or later:
`-device vmclock`) and the newest cloud kernel (7.x: ptp_vmclock as a module, the vmgenid
driver built in). test/helpers/fetch-debian-root.sh fetches each into a cached root once;
QEMU runs through that root's own loader and libraries. Everything else (the guests, QMP,
snapshots, clones, the run) is test/vm's vmlib and vmscenario.
"""

import glob
import lzma
import os
import signal
import subprocess

import vmlib
import vmscenario
from vmlib import VmError

FETCH_TIMEOUT = 600     # s each: a first run downloads about 90 MB in all
CPU = 'qemu64,-cx16,+rdrand'    # vmlib's model, with the instruction the library mixes in

QEMU_CHECK = ('lib=$ROOT/usr/lib/x86_64-linux-gnu; '
              'QEMU_MODULE_DIR=$lib/qemu $ROOT/usr/lib64/ld-linux-x86-64.so.2 --library-path $lib '
              '$ROOT/usr/bin/qemu-system-x86_64 -device vmclock,help')
KERNEL_CHECK = ('ls "$ROOT"/usr/lib/modules/7.*/vmlinuz && '
                'find "$ROOT"/usr/lib/modules -name "ptp_vmclock.ko*" | grep -q .')


def _fetch(name, check, packages):
    """The cached root NAME (fetch-debian-root.sh); a fetch that outlives FETCH_TIMEOUT is
    ended with everything it started (apt-get, dpkg-deb)."""
    script = os.path.join(vmlib.source_root(), 'test', 'helpers', 'fetch-debian-root.sh')
    cmd = [script, '--suites', 'trixie trixie-backports', '--resolve', '--release',
           'trixie-backports', '--check', check, name] + packages
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=FETCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise VmError('fetching %s took more than %d s' % (name, FETCH_TIMEOUT))
    if p.returncode != 0 or not out.strip():
        raise VmError('fetching %s failed:\n%s' % (name, err[-3000:]))
    return out.strip().splitlines()[-1]


class Qemu:
    """Debian 13's qemu-system-x86_64 in its cached root: prefix() is the command that runs
    it (the root's loader, its libraries, its firmware). Raises vmlib.VmSkip when it cannot
    be fetched (no cache and no mirror) or does not run."""

    def __init__(self):
        try:
            self.root = _fetch('qemu-trixie', QEMU_CHECK, ['qemu-system-x86'])
        except VmError as e:
            raise vmlib.VmSkip(str(e))
        self.lib = os.path.join(self.root, 'usr', 'lib', 'x86_64-linux-gnu')
        # Read by QEMU for its loadable modules; the guests inherit our environment.
        os.environ['QEMU_MODULE_DIR'] = os.path.join(self.lib, 'qemu')
        try:
            r = subprocess.run(self.prefix() + ['-machine', 'q35', '-accel', 'tcg',
                                                '-nodefaults', '-display', 'none', '-S',
                                                '-device', 'vmclock', '-device', 'vmgenid',
                                                '-qmp', 'stdio'],
                               input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise vmlib.VmSkip('Debian 13\'s QEMU does not start: %s' % e)
        if r.returncode != 0:
            raise vmlib.VmSkip('Debian 13\'s QEMU does not start: %s' % r.stderr.strip())

    def prefix(self):
        return [os.path.join(self.root, 'usr', 'lib64', 'ld-linux-x86-64.so.2'),
                '--library-path', self.lib,
                os.path.join(self.root, 'usr', 'bin', 'qemu-system-x86_64'),
                '-L', os.path.join(self.root, 'usr', 'share', 'qemu'),
                '-L', os.path.join(self.root, 'usr', 'share', 'seabios')]

    def version(self):
        r = subprocess.run(self.prefix() + ['--version'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        return r.stdout.splitlines()[0] if r.stdout else '?'


class Kernel:
    """What vmlib.Guest reads of a kernel (vmlinuz, cpu), and release and module (the
    ptp_vmclock file)."""

    name = '7'
    cpu = CPU

    def __init__(self, release, vmlinuz, module):
        self.release, self.vmlinuz, self.module = release, vmlinuz, module

    def __repr__(self):
        return 'Kernel(%s)' % self.release


def fetch_kernel():
    """The newest 7.x cloud kernel of trixie-backports, as a Kernel."""
    root = _fetch('kernel-7-cloud', KERNEL_CHECK, ['linux-image-cloud-amd64'])
    images = sorted(glob.glob(os.path.join(root, 'usr', 'lib', 'modules', '7.*', 'vmlinuz')))
    if not images:
        raise VmError('no 7.x vmlinuz in %s' % root)
    kdir = os.path.dirname(images[-1])
    found = glob.glob(os.path.join(kdir, 'kernel', '**', 'ptp_vmclock.ko*'), recursive=True)
    if not found:
        raise VmError('no ptp_vmclock module in %s' % kdir)
    return Kernel(os.path.basename(kdir), images[-1], found[0])


def module_bytes(path):
    """The module, decompressed: busybox's insmod takes a plain .ko."""
    with open(path, 'rb') as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith('.xz') else data


def ensure_host_tools():
    """busybox-static (the guest's userland) and the Debian archive keyring (the fetch checks
    trixie's lists with it), through tools/deps when missing."""
    need = []
    if not os.path.exists('/bin/busybox'):
        need.append('busybox-static')
    if not os.path.exists('/usr/share/keyrings/debian-archive-keyring.gpg'):
        need.append('debian-archive-keyring')
    if need:
        deps = os.path.join(vmlib.source_root(), 'tools', 'deps')
        vmlib.log('installing %s with tools/deps' % ' '.join(need))
        r = subprocess.run([deps] + need, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=1800)
        if r.returncode != 0:
            vmlib.log(r.stdout)
    if not os.path.exists('/bin/busybox'):
        raise VmError('/bin/busybox (busybox-static) is missing and could not be installed')


class Guest(vmlib.Guest):
    """vmlib's guest, run by Debian 13's QEMU with a VMClock device."""

    qemu = None

    def command_line(self):
        cmd = super().command_line()
        return self.qemu.prefix() + cmd[1:] + ['-device', 'vmclock']


class Session(vmscenario.Session):
    """vmscenario's session, whose guests are Guest above."""

    def guest(self, name, kernel, initrd, **kw):
        g = Guest(self.work, name, kernel, initrd, **kw)
        self.guests.append(g)
        return g
