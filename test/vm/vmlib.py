# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmlib: boot, snapshot and clone QEMU test guests (Python 3 standard library only).

The reusable half of the VM tests (docs/vm-clones.md is the manual). It fetches Debian guest
kernels into a cache, builds an initramfs (busybox-static, the guest agent, the programs under
test), starts QEMU (TCG, q35, a vmgenid device, the console on ttyS0, the agent on ttyS1, QMP),
snapshots a running guest with a QMP migration to a file, and restores clones from that file
with a chosen vmgenid GUID. It does not know about snapsafe: vmscenario.py does, and the
scenario scripts (test/vm/vm-clone-test.py, test/kmod/kmod-test.py) use both.
"""

import fcntl
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

QEMU = 'qemu-system-x86_64'
EXIT_SKIP = 77

# Guest kernels: the Debian package that names the newest image, and the CPU model.
# "-cx16": about 15% of 6.12 boots under QEMU 7.2's TCG died of a double fault right after
# a cmpxchg16b; without the instruction every boot passes. Used for both, for one model.
KERNELS = {
    '6.1': {'meta': 'linux-image-amd64', 'cpu': 'qemu64,-cx16'},
    '6.12': {'meta': 'linux-image-6.12-cloud-amd64', 'cpu': 'qemu64,-cx16'},
}

HERE = os.path.dirname(os.path.abspath(__file__))


class VmSkip(Exception):
    """QEMU cannot run on this machine at all (the only reason to skip)."""


class VmError(Exception):
    """Something in a guest or in the harness went wrong."""


def log(msg):
    print('[vm %8.3f] %s' % (time.monotonic() % 100000, msg), file=sys.stderr, flush=True)


def in_ci():
    return os.environ.get('CI', '').lower() == 'true'


def skip_or_fail(reason):
    """Exit 77, or 1 under CI=true, where a skipped proof is a failure."""
    if in_ci():
        print('FAIL (CI=true, a skip is a failure): ' + reason, file=sys.stderr)
        sys.exit(1)
    print('SKIP: ' + reason, file=sys.stderr)
    sys.exit(EXIT_SKIP)


# ---- host tools and the kernel cache ----------------------------------------------------------

def cache_dir():
    """$SNAPSAFE_VM_CACHE, else $XDG_CACHE_HOME/snapsafe/vm, else ~/.cache/snapsafe/vm; created
    when missing."""
    d = os.environ.get('SNAPSAFE_VM_CACHE')
    if not d:
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        d = os.path.join(base, 'snapsafe', 'vm')
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise VmError('cannot create the guest kernel cache %s (set SNAPSAFE_VM_CACHE to a '
                      'writable directory): %s' % (d, e))
    return d


class FileLock:
    """An exclusive flock(2) on path, created when missing; released on exit or when the
    process dies, so a killed run never leaves a lock behind. Waits at most timeout s."""

    def __init__(self, path, what, timeout=900):
        self.path, self.what, self.timeout = path, what, timeout

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout
        said = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                pass
            if not said:
                log('waiting for %s (another run holds %s)' % (self.what, self.path))
                said = True
            if time.monotonic() > deadline:
                os.close(self.fd)
                raise VmError('%s: %s still locked after %d s' % (self.what, self.path,
                                                                  self.timeout))
            time.sleep(0.2)

    def __exit__(self, *exc):
        os.close(self.fd)


def apt_lock():
    """The lock tools/deps and test/kmod/kheaders.sh take around apt-get: one apt at a time."""
    return FileLock(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'snapsafe-apt.lock'),
                    'apt', timeout=1800)


def apt_update():
    """apt-get update (root only), for package lists that are missing or stale; returns
    whether it ran and succeeded."""
    if os.geteuid() != 0:
        return False
    log('apt-get update (the package lists do not name or no longer serve a package)')
    with apt_lock():
        r = subprocess.run(['apt-get', 'update', '-qq', '-o', 'Acquire::Retries=3'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log('apt-get update failed:\n' + r.stdout)
    return r.returncode == 0


def source_root():
    return os.environ.get('SNAPSAFE_SOURCE_ROOT') or os.path.dirname(os.path.dirname(HERE))


def ensure_host_tools():
    """Install qemu-system-x86 and busybox-static through tools/deps when missing, then check
    that QEMU starts (TCG, q35, vmgenid). Raises VmSkip when it cannot run at all."""
    if not shutil.which(QEMU) or not os.path.exists('/bin/busybox'):
        deps = os.path.join(source_root(), 'tools', 'deps')
        log('installing the VM test packages with tools/deps')
        r = subprocess.run([deps, 'qemu-system-x86', 'busybox-static', 'cpio'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            log(r.stdout)
    if not shutil.which(QEMU):
        raise VmSkip('%s is not installed and could not be installed' % QEMU)
    if not os.path.exists('/bin/busybox'):
        raise VmError('/bin/busybox (busybox-static) is missing')
    probe = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'
    try:
        r = subprocess.run([QEMU, '-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-display',
                            'none', '-S', '-device', 'vmgenid', '-qmp', 'stdio'],
                           input=probe, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VmSkip('QEMU does not start: %s' % e)
    if r.returncode != 0:
        raise VmSkip('QEMU does not start: %s' % r.stderr.strip())


class Kernel:
    """A guest kernel unpacked in the cache: name ('6.1'), package, release (uname -r),
    vmlinuz and config paths, cpu (the -cpu argument), root (the unpacked package)."""

    def __init__(self, name, package, root, cpu):
        self.name, self.package, self.root, self.cpu = name, package, root, cpu
        boot = os.path.join(root, 'boot')
        images = sorted(f for f in os.listdir(boot) if f.startswith('vmlinuz-'))
        if not images:
            raise VmError('no vmlinuz in %s' % boot)
        self.release = images[-1][len('vmlinuz-'):]
        self.vmlinuz = os.path.join(boot, images[-1])
        self.config = os.path.join(boot, 'config-' + self.release)

    def __repr__(self):
        return 'Kernel(%s, %s)' % (self.name, self.release)


def _apt_image_package(meta, update=True):
    """The versioned image package that the meta package depends on, or None (after an
    apt-get update when update is true and we are root)."""
    for attempt in range(2):
        r = subprocess.run(['apt-cache', 'depends', '--important', meta],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.search(r'Depends:\s*(linux-image-\S+)', r.stdout or '')
        if m:
            return m.group(1)
        if attempt > 0 or not update or not apt_update():
            break
    return None


def _cached_kernel(kdir, name, meta):
    """The newest unpacked image package in kdir for kernel name, or None."""
    cached = sorted(d for d in os.listdir(kdir)
                    if d.startswith('linux-image-') and not d.endswith('-full') and
                    meta.endswith('cloud-amd64') == d.endswith('cloud-amd64') and
                    ('-6.12' in d) == (name == '6.12') and
                    os.path.isdir(os.path.join(kdir, d, 'boot')))
    return cached[-1] if cached else None


def _download_deb(pkg, tmp):
    """apt-get download pkg into tmp; returns the .deb's path. apt checks the file against the
    hash its package lists give, and retries a broken transfer."""
    cmd = ['apt-get', 'download', '-q', '-o', 'Acquire::Retries=3']
    if os.geteuid() == 0:
        cmd += ['-o', 'APT::Sandbox::User=root']    # tmp is not the _apt user's to write
    r = subprocess.run(cmd + [pkg], cwd=tmp,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    debs = [f for f in os.listdir(tmp) if f.endswith('.deb')]
    if r.returncode != 0 or len(debs) != 1:
        raise VmError('apt-get download %s failed (are apt\'s package lists current? as root: '
                      'apt-get update):\n%s' % (pkg, r.stdout))
    return os.path.join(tmp, debs[0])


def _unpack(deb, root, full):
    """The package's ./boot (everything with full) into root, which must not exist yet."""
    os.mkdir(root)
    if full:
        subprocess.run(['dpkg', '-x', deb, root], check=True)
        return
    tar = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb], stdout=subprocess.PIPE)
    untar = subprocess.run(['tar', '-x', '-C', root, './boot'], stdin=tar.stdout)
    tar.stdout.close()
    if tar.wait() != 0 or untar.returncode != 0:
        raise VmError('dpkg-deb or tar failed on %s' % deb)


def fetch_kernel(name, full=False):
    """Return the Kernel for '6.1' or '6.12', downloading it into the cache on first use.

    apt-get download + dpkg-deb (nothing is installed on the host). Only ./boot is unpacked
    unless full=True (then the modules too, like dpkg -x). When apt cannot say which package
    is current (offline), the newest cached one is used.

    The cache holds only complete kernels: a package is downloaded and unpacked in a temporary
    folder of the cache and renamed into place once whole, under a lock per package, so that
    runs in parallel (both suites boot both kernels) download it once and an interrupted
    download leaves only a temporary folder, which the next fetch removes. When the package
    lists name a package that the mirror no longer serves, they are updated once (as root)."""
    spec = KERNELS[name]
    kdir = os.path.join(cache_dir(), 'kernels')
    try:
        os.makedirs(kdir, exist_ok=True)
    except OSError as e:
        raise VmError('cannot create %s: %s' % (kdir, e))
    for attempt in range(2):
        pkg = _apt_image_package(spec['meta'], update=attempt == 0)
        if pkg is None:
            pkg = _cached_kernel(kdir, name, spec['meta'])
            if pkg is None:
                raise VmError('apt does not know %s (no package lists? as root: apt-get update) '
                              'and no %s kernel is cached in %s' % (spec['meta'], name, kdir))
            log('apt cannot resolve %s: using the cached %s' % (spec['meta'], pkg))
        dest = os.path.join(kdir, pkg + ('-full' if full else ''))
        if os.path.isdir(os.path.join(dest, 'boot')):
            return Kernel(name, pkg, dest, spec['cpu'])
        with FileLock(os.path.join(kdir, '.lock-' + pkg), 'the download of ' + pkg):
            if os.path.isdir(os.path.join(dest, 'boot')):   # another run fetched it meanwhile
                return Kernel(name, pkg, dest, spec['cpu'])
            prefix = '.fetch-%s-' % os.path.basename(dest)
            for old in os.listdir(kdir):    # what an interrupted fetch left; we hold its lock
                if old.startswith(prefix):
                    shutil.rmtree(os.path.join(kdir, old), ignore_errors=True)
            log('fetching %s into %s' % (pkg, kdir))
            tmp = tempfile.mkdtemp(prefix=prefix, dir=kdir)
            try:
                os.chmod(tmp, 0o755)
                try:
                    deb = _download_deb(pkg, tmp)
                except VmError:
                    if attempt == 0 and apt_update():
                        continue    # stale lists: resolve the package again
                    raise
                root = os.path.join(tmp, 'root')
                _unpack(deb, root, full)
                if not any(f.startswith('vmlinuz-') for f in os.listdir(os.path.join(root,
                                                                                     'boot'))):
                    raise VmError('%s holds no vmlinuz' % deb)
                os.rename(root, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return Kernel(name, pkg, dest, spec['cpu'])
    raise VmError('cannot fetch a %s kernel' % name)


# ---- the initramfs ----------------------------------------------------------------------------

class Initramfs:
    """A newc cpio archive built in memory: add files, directories and symlinks by guest path.
    Parent directories are created as needed. write() produces an uncompressed archive, which
    every kernel accepts."""

    def __init__(self):
        self.entries = {}   # guest path -> (mode, data bytes)
        self.add_dir('/')

    def add_dir(self, path, mode=0o755):
        path = '/' + path.strip('/')
        if path != '/':
            self.add_dir(os.path.dirname(path))
        self.entries.setdefault(path, (0o040000 | mode, b''))

    def add_bytes(self, path, data, mode=0o644):
        self.add_dir(os.path.dirname(path))
        self.entries[path] = (0o100000 | mode, data)

    def add_file(self, path, host_path, mode=None):
        with open(host_path, 'rb') as f:
            data = f.read()
        if mode is None:
            mode = os.stat(host_path).st_mode & 0o7777
        self.add_bytes(path, data, mode)

    def add_dynamic(self, path, host_path, mode=0o755):
        """A dynamically linked program or module of the host at path, with the libraries and
        the loader that ldd finds for it on the host: each at the path ldd names when that is
        in a system directory, else (a library of the build tree) in /usr/lib/x86_64-linux-gnu,
        where the guest's loader finds it without an ld.so.cache. The guest then runs the
        host's own userland binaries (the guest kernels are Debian 12's too)."""
        self.add_file(path, host_path, mode)
        try:
            r = subprocess.run(['ldd', host_path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise VmError('ldd %s did not finish in 60 s' % host_path)
        if r.returncode != 0:
            raise VmError('ldd %s failed:\n%s' % (host_path, r.stdout))
        for line in r.stdout.splitlines():
            m = re.match(r'\s*(?:(\S+) => )?(/\S+) \(0x[0-9a-f]+\)$', line)
            if not m:
                if '=> not found' in line:
                    raise VmError('ldd %s: %s' % (host_path, line.strip()))
                continue    # linux-vdso.so.1: the kernel's
            lib = m.group(2)
            if not lib.startswith(('/lib/', '/lib64/', '/usr/lib/')):
                lib = os.path.join('/usr/lib/x86_64-linux-gnu', m.group(1))
            self.add_file(lib, m.group(2), 0o755)

    def add_symlink(self, path, target):
        self.add_dir(os.path.dirname(path))
        self.entries[path] = (0o120000 | 0o777, target.encode())

    def write(self, out_path):
        def pad4(n):
            return b'\0' * ((4 - n % 4) % 4)
        with open(out_path, 'wb') as f:
            ino = 1
            for path in sorted(self.entries):
                mode, data = self.entries[path]
                name = (path.lstrip('/') or '.').encode() + b'\0'
                hdr = '070701' + ''.join('%08x' % v for v in (
                    ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0))
                f.write(hdr.encode() + name + pad4(110 + len(name)) + data + pad4(len(data)))
                ino += 1
            name = b'TRAILER!!!\0'
            hdr = '070701' + ''.join('%08x' % v for v in (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                                        len(name), 0))
            f.write(hdr.encode() + name + pad4(110 + len(name)))
        return out_path


def base_initramfs(agent_path, init_path=None):
    """An Initramfs with busybox, the guest agent (/bin/guest-agent) and the init script
    (guest-init.sh: mounts, starts the agent on ttyS1, runs /etc/rc.test if present, prints
    VM-READY on the console). Add the programs under test, then write()."""
    ird = Initramfs()
    ird.add_file('/bin/busybox', '/bin/busybox', 0o755)
    ird.add_file('/bin/guest-agent', agent_path, 0o755)
    ird.add_file('/init', init_path or os.path.join(HERE, 'guest-init.sh'), 0o755)
    for d in ('/dev', '/proc', '/sys', '/run', '/tmp', '/sbin', '/usr/bin', '/usr/sbin', '/etc'):
        ird.add_dir(d)
    return ird


# ---- QMP --------------------------------------------------------------------------------------

class Qmp:
    """A QMP client on a Unix socket: execute() waits for the reply; events are kept with
    QEMU's own timestamp (host CLOCK_REALTIME, microseconds) and the host's arrival time."""

    def __init__(self, path, timeout=60, alive=lambda: True):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if not alive():
                    raise VmError('QEMU exited before its QMP socket %s appeared' % path)
                if time.monotonic() > deadline:
                    raise VmError('QMP socket %s did not appear in %d s' % (path, timeout))
                time.sleep(0.02)
        self.replies = queue.Queue()
        self.events = []
        self.cond = threading.Condition()
        self.lock = threading.Lock()
        # The greeting with a deadline; then the reader thread blocks for as long as QEMU runs.
        self.file = self.sock.makefile('rb')
        self.sock.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            raw = self.file.readline()
        except OSError as e:
            raise VmError('no QMP greeting on %s: %s' % (path, e))
        self.sock.settimeout(None)
        try:
            greeting = json.loads(raw)
        except ValueError:
            greeting = raw
        if not isinstance(greeting, dict) or 'QMP' not in greeting:
            raise VmError('bad QMP greeting %r' % greeting)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.execute('qmp_capabilities')

    def _read(self):
        try:
            self._read_loop()
        except (OSError, ValueError):
            pass
        self.replies.put({'error': {'desc': 'QMP connection closed'}})

    def _read_loop(self):
        for raw in self.file:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if 'event' in msg:
                ts = msg.get('timestamp', {})
                msg['qemu_ns'] = ts.get('seconds', 0) * 10**9 + ts.get('microseconds', 0) * 1000
                msg['host_ns'] = time.time_ns()
                with self.cond:
                    self.events.append(msg)
                    self.cond.notify_all()
            else:
                self.replies.put(msg)

    def execute(self, cmd, timeout=60, **args):
        with self.lock:
            req = {'execute': cmd}
            if args:
                req['arguments'] = args
            self.sock.sendall(json.dumps(req).encode() + b'\n')
            try:
                r = self.replies.get(timeout=timeout)
            except queue.Empty:
                raise VmError('QMP %s: no reply in %d s' % (cmd, timeout))
        if 'error' in r:
            raise VmError('QMP %s: %s' % (cmd, r['error'].get('desc')))
        return r.get('return')

    def wait_event(self, name, timeout=30, since=0):
        """The first event called name at index >= since; returns (index, event)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.events)):
                    if self.events[i]['event'] == name:
                        return i, self.events[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VmError('no QMP %s event in %d s' % (name, timeout))
                self.cond.wait(left)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- a guest ----------------------------------------------------------------------------------

class Guest:
    """One QEMU process: a fresh boot, or a clone restored from a snapshot file.

    Guest(workdir, name, kernel, initrd, guid=None, incoming=None, mem='256M', append='',
    extra_args=()). guid None means a random one. With incoming=FILE the guest is restored
    from FILE and stays paused until resume(). Attributes: console (list of (host_ns, line)),
    qmp (Qmp), guid. Files in workdir: <name>.console (the serial console), <name>.qemu.log.
    """

    def __init__(self, workdir, name, kernel, initrd, guid=None, incoming=None, mem='256M',
                 append='', extra_args=()):
        self.workdir, self.name, self.kernel, self.initrd = workdir, name, kernel, initrd
        self.guid = guid or str(uuid.uuid4())
        self.incoming, self.mem, self.append, self.extra_args = incoming, mem, append, extra_args
        self.console = []
        self.cond = threading.Condition()
        self.proc = None
        self.qmp = None
        self.ctl = None
        self.ctl_lines = queue.Queue()
        self.marks = {}
        self.agent_ready = False     # the agent's AGENT READY line came (a fresh boot)
        self.run_lock = threading.Lock()
        self.run_seq = 0
        self.resume_host_ns = None
        self.resume_event = None
        self.console_path = os.path.join(workdir, name + '.console')
        self.qemu_log_path = os.path.join(workdir, name + '.qemu.log')
        # Unix socket paths are short (108 bytes): keep them in a short temporary directory.
        self.sockdir = tempfile.mkdtemp(prefix='vm-%s-' % name[:16])

    def command_line(self):
        """The QEMU command line: identical for a boot and its clones except -incoming."""
        append = 'console=ttyS0 panic=-1 ' + self.append
        cmd = [QEMU, '-machine', 'q35', '-accel', 'tcg', '-cpu', self.kernel.cpu, '-smp', '1',
               '-m', self.mem, '-nodefaults', '-display', 'none', '-no-reboot',
               '-kernel', self.kernel.vmlinuz, '-initrd', self.initrd, '-append', append.strip(),
               '-serial', 'stdio',
               '-chardev', 'socket,id=ctl,path=%s/ctl,server=on,wait=off' % self.sockdir,
               '-serial', 'chardev:ctl',
               '-qmp', 'unix:%s/qmp,server=on,wait=off' % self.sockdir,
               '-device', 'vmgenid,guid=' + self.guid]
        cmd += list(self.extra_args)
        if self.incoming:
            cmd += ['-S', '-incoming', 'exec:cat ' + shlex.quote(self.incoming)]
        return cmd

    def start(self):
        cmd = self.command_line()
        with open(self.qemu_log_path, 'w') as f:
            f.write(' '.join(shlex.quote(c) for c in cmd) + '\n')
        self.qemu_log = open(self.qemu_log_path, 'a')
        self.console_file = open(self.console_path, 'w')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.qemu_log, start_new_session=True)
        threading.Thread(target=self._read_console, daemon=True).start()
        self.qmp = Qmp(os.path.join(self.sockdir, 'qmp'),
                       alive=lambda: self.proc.poll() is None)
        self._connect_ctl()
        return self

    def _read_console(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            now = time.time_ns()
            self.console_file.write(line + '\n')
            self.console_file.flush()
            with self.cond:
                self.console.append((now, line))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _connect_ctl(self):
        path = os.path.join(self.sockdir, 'ctl')
        deadline = time.monotonic() + 60
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None:
                    raise VmError('%s: QEMU exited before the agent socket appeared' % self.name)
                if time.monotonic() > deadline:
                    raise VmError('%s: agent socket %s did not appear' % (self.name, path))
                time.sleep(0.02)
        self.ctl = s
        threading.Thread(target=self._read_ctl, args=(s.makefile('rb'),), daemon=True).start()

    def _read_ctl(self, f):
        try:
            self._read_ctl_loop(f)
        except (OSError, ValueError):
            pass
        self.ctl_lines.put(None)

    def _read_ctl_loop(self, f):
        for raw in f:
            now = time.time_ns()
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            m = re.match(r'MARK (\S+) mono=(\d+) real=(\d+)$', line)
            if line == 'AGENT READY':
                with self.cond:
                    self.agent_ready = True
                    self.cond.notify_all()
            elif m:
                with self.cond:
                    self.marks[m.group(1)] = {'mono': int(m.group(2)), 'real': int(m.group(3)),
                                              'host_ns': now}
                    self.cond.notify_all()
            else:
                self.ctl_lines.put(line)

    # -- console --

    def wait_console(self, pattern, timeout=60, since=0):
        """Wait for a console line matching the regex; returns (index, host_ns, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.console)):
                    m = rx.search(self.console[i][1])
                    if m:
                        return i, self.console[i][0], m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise VmError('%s: no console line matching %r (%s)' % (
                        self.name, pattern, 'QEMU exited' if left > 0 else
                        'timeout %d s' % timeout))
                self.cond.wait(min(left, 0.5))

    def console_lines(self, pattern=None, since=0):
        """Console lines (host_ns, line) from index since, optionally only those matching."""
        with self.cond:
            lines = self.console[since:]
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [(t, ln) for t, ln in lines if rx.search(ln)]

    def wait_booted(self, timeout=120):
        """Wait for the init script's VM-READY line and for the agent's AGENT READY on its
        port. The init script starts the agent in the background and goes on, so VM-READY
        can come before the agent has opened ttyS1: the kernel empties the UART's receive
        FIFO when the port is opened, and a request sent before that would be lost."""
        deadline = time.monotonic() + timeout
        self.wait_console(r'^VM-READY', timeout)
        with self.cond:
            while not self.agent_ready:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise VmError('%s: the guest agent did not say AGENT READY (%s)' % (
                        self.name, 'QEMU exited' if left > 0 else 'timeout %d s' % timeout))
                self.cond.wait(min(left, 0.5))

    # -- the agent on ttyS1 --

    def run(self, command, timeout=60, check=True):
        """Run a shell command in the guest; returns (rc, output). check: raise on rc != 0."""
        with self.run_lock:
            self.run_seq += 1
            rid = 'r%d' % self.run_seq
            self.ctl.sendall(('RUN %s %s\n' % (rid, command)).encode())
            out, begun = [], False
            deadline = time.monotonic() + timeout
            while True:
                try:
                    line = self.ctl_lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    raise VmError('%s: command %r did not finish in %d s' % (
                        self.name, command, timeout))
                if line is None:
                    raise VmError('%s: agent channel closed during %r' % (self.name, command))
                if line == 'BEGIN ' + rid:
                    begun = True
                    continue
                m = re.match(r'END %s rc=(\d+) mono=\d+$' % rid, line)
                if m:
                    rc = int(m.group(1))
                    text = '\n'.join(out)
                    if check and rc != 0:
                        raise VmError('%s: %r exited %d:\n%s' % (self.name, command, rc, text))
                    return rc, text
                if begun:
                    out.append(line)

    def send_mark(self, tag):
        """Queue a MARK request (answered when the guest runs; see guest-agent.c)."""
        self.ctl.sendall(('MARK %s\n' % tag).encode())

    def wait_mark(self, tag, timeout=30):
        """The agent's reply to MARK tag: {'mono', 'real' (guest ns), 'host_ns'}."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while tag not in self.marks:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VmError('%s: no reply to MARK %s' % (self.name, tag))
                self.cond.wait(left)
            return self.marks[tag]

    def guest_mono(self):
        """The guest's CLOCK_MONOTONIC now (ns), through a MARK round trip."""
        self.run_seq += 1
        tag = 'now%d' % self.run_seq
        self.send_mark(tag)
        return self.wait_mark(tag)['mono']

    # -- snapshot, restore --

    def snapshot(self, path, timeout=120):
        """Pause the guest and migrate it into path (QMP stop, then migrate to exec:cat), as
        a hypervisor saves a VM; cont() lets it go on. Returns the seconds it took.

        Paused first, the snapshot is one copy of a state that no longer changes. A live
        migration would copy a running guest in rounds and rely on QEMU's tracking of the
        pages written meanwhile. Once, under load, both clones of such a snapshot of the
        6.12 guest called a NULL hrtimer function at the first timer interrupt after the
        resume: a kernel that is consistent at every instruction boundary is never in that
        state, so the copy was not."""
        t0 = time.monotonic()
        self.qmp.execute('stop')
        self.qmp.execute('migrate', uri='exec:cat > ' + shlex.quote(path))
        while True:
            st = self.qmp.execute('query-migrate')
            status = st.get('status')
            if status == 'completed':
                return time.monotonic() - t0
            if status in ('failed', 'cancelled'):
                raise VmError('%s: migration %s: %s' % (self.name, status, st.get('error-desc')))
            if time.monotonic() - t0 > timeout:
                raise VmError('%s: migration not done in %d s' % (self.name, timeout))
            time.sleep(0.05)

    def wait_incoming(self, timeout=120):
        """Wait until a clone has loaded its snapshot (paused, ready for resume())."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.qmp.execute('query-status')
            if st['status'] in ('paused', 'postmigrate', 'prelaunch') and \
                    self.qmp.execute('query-migrate').get('status') == 'completed':
                return
            if st['status'] == 'running':
                return
            if time.monotonic() > deadline:
                raise VmError('%s: snapshot not loaded in %d s (%s)' % (
                    self.name, timeout, st['status']))
            time.sleep(0.05)

    def resume(self):
        """Resume a paused clone. A 'MARK resume' request is queued in the UART first, so
        the agent's stamp is the guest's first moment after resuming (mark 'resume').
        Records resume_host_ns (host CLOCK_REALTIME at cont) and the RESUME event."""
        since = len(self.qmp.events)
        self.send_mark('resume')
        # The request must be in the UART before the guest runs. QEMU's main loop moves it
        # there from the socket, a few bytes per iteration (up to the FIFO's trigger level),
        # and does not wait between iterations while the socket is readable. QMP commands
        # are dispatched by the same loop: the socket was readable before this round trip
        # began, so the loop has been through it, and the 'cont' below comes later still.
        # (Only the origin of the measured windows depends on it, no result does.)
        self.qmp.execute('query-status')
        self.resume_host_ns = time.time_ns()
        self.qmp.execute('cont')
        _, self.resume_event = self.qmp.wait_event('RESUME', since=since)

    def cont(self):
        self.qmp.execute('cont')

    # -- the end --

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.qmp.execute('quit', timeout=5)
            except (VmError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for c in (self.qmp, ):
            if c:
                c.close()
        if self.ctl:
            try:
                self.ctl.close()
            except OSError:
                pass
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def dump(self, out=sys.stderr, tail=400):
        """Print the guest's console (last tail lines) and QEMU's own log, for failures."""
        print('----- %s: console (%s), last %d lines -----' % (
            self.name, self.console_path, tail), file=out)
        with self.cond:
            lines = self.console[-tail:]
        for _, ln in lines:
            print(ln, file=out)
        try:
            with open(self.qemu_log_path) as f:
                print('----- %s: QEMU log -----\n%s' % (self.name, f.read()), file=out)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
