#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test guests: the whole userspace is busybox-static plus static programs.
# Mounts the pseudo file systems, starts the guest agent on ttyS1 (the host's command
# channel, see guest-agent.c), runs /etc/rc.test when a scenario put one in the initramfs,
# and prints VM-READY on the console. After that only the agent's commands happen.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
# Kernel messages from now on go to /dev/kmsg only (read them with dmesg): the console
# carries the programs' lines, which a kernel message could otherwise split.
echo 1 > /proc/sys/kernel/printk
hostname guest
/bin/guest-agent /dev/ttyS1 &
[ -x /etc/rc.test ] && /etc/rc.test
echo "VM-READY kernel=$(uname -r)"
# PID 1 must not exit; the shell reaps orphans while it waits.
while :; do sleep 3600; done
