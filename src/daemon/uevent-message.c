/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel uevent message checks (see uevent-message.h). */
#include <linux/netlink.h>
#include <string.h>

#include "uevent-message.h"

/* Does @buf hold the NUL-separated entry @kv exactly? */
static bool has_entry(const char *buf, size_t len, const char *kv)
{
	size_t kvlen = strlen(kv);
	size_t off = 0;

	while (off < len) {
		const char *e = buf + off;
		const char *z = memchr(e, '\0', len - off);
		size_t elen = z ? (size_t)(z - e) : len - off;

		if (elen == kvlen && memcmp(e, kv, kvlen) == 0)
			return true;
		off += elen + 1;
	}
	return false;
}

bool uevent_is_new_vmgenid(const char *buf, size_t len)
{
	const char *z, *at;
	size_t hlen;

	if (len == 0)
		return false;
	/* The kernel's header is "action@devpath"; udev's messages start with "libudev". */
	z = memchr(buf, '\0', len);
	hlen = z ? (size_t)(z - buf) : len;
	at = memchr(buf, '@', hlen);
	if (!at || hlen < 8 || memcmp(buf, "change@", 7) != 0)
		return false;
	if (!z)
		return false;
	buf += hlen + 1;
	len -= hlen + 1;
	return has_entry(buf, len, "ACTION=change") && has_entry(buf, len, "NEW_VMGENID=1");
}

bool uevent_accept(const struct sockaddr_nl *sa, socklen_t salen, int msg_flags, const char *buf,
		   size_t len)
{
	/* Port id 0 is the kernel: a process cannot send from it, udev included. */
	if (salen < sizeof(*sa) || sa->nl_family != AF_NETLINK || sa->nl_pid != 0)
		return false;
	/* A cut message may have lost the entries that make it what it claims to be. */
	if (msg_flags & MSG_TRUNC)
		return false;
	return uevent_is_new_vmgenid(buf, len);
}
