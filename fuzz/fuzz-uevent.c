/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzer for the uevent checks of the uevent notifier (uevent_is_new_vmgenid() and
 * uevent_accept() in src/daemon/uevent-message.c). The input is one netlink datagram
 * payload as the socket delivers it: the kernel's "change@/devpath\0KEY=value\0...", or
 * udev's rebroadcast, which starts with "libudev\0" and a binary header.
 *
 * The payload check is compared with a plain reading of the rule: the payload has a
 * NUL-terminated header "change@" plus a non-empty devpath, and among the entries after it
 * are exactly "ACTION=change" and "NEW_VMGENID=1". So udev messages, other actions, keys
 * inside the header and prefixes such as "NEW_VMGENID=10" never count. Appending an entry
 * to an accepted kernel message keeps it accepted. The same payload from any sender but
 * the kernel (netlink port 0), or cut short (MSG_TRUNC), is never accepted.
 */
#include <linux/netlink.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "uevent-message.h"
#include "fuzz.h"

/* Is there a NUL-separated entry after the first one equal to @kv? */
static bool plain_has(const char *buf, size_t len, const char *kv)
{
	size_t kvlen = strlen(kv);
	size_t start = 0;
	bool header = true;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		/* An entry is [start, i); the last one may end at the buffer's end. */
		if (!header && i - start == kvlen && memcmp(buf + start, kv, kvlen) == 0)
			return true;
		header = false;
		start = i + 1;
	}
	return false;
}

static bool plain_is_new_vmgenid(const char *buf, size_t len)
{
	const char *z = memchr(buf, '\0', len);

	/* "change@" and at least one byte of devpath, then the NUL. */
	if (!z || (size_t)(z - buf) < sizeof("change@") || memcmp(buf, "change@", 7) != 0)
		return false;
	return plain_has(buf, len, "ACTION=change") && plain_has(buf, len, "NEW_VMGENID=1");
}

/* Only the kernel's own, whole datagrams count, whatever they say. */
static void check_senders(const char *buf, size_t len, bool yes)
{
	const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK, .nl_pid = 0 };
	const struct sockaddr_nl process = { .nl_family = AF_NETLINK, .nl_pid = 4242 };
	const struct sockaddr_nl other = { .nl_family = AF_UNIX, .nl_pid = 0 };

	fuzz_assert(uevent_accept(&kernel, sizeof(kernel), 0, buf, len) == yes);
	fuzz_assert(!uevent_accept(&kernel, sizeof(kernel), MSG_TRUNC, buf, len));
	fuzz_assert(!uevent_accept(&kernel, sizeof(kernel) - 1, 0, buf, len));
	fuzz_assert(!uevent_accept(&process, sizeof(process), 0, buf, len));
	fuzz_assert(!uevent_accept(&other, sizeof(other), 0, buf, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_dup(data, size);
	bool yes = uevent_is_new_vmgenid(buf, size);

	fuzz_assert(yes == plain_is_new_vmgenid(buf, size));
	check_senders(buf, size, yes);
	/* The kernel ends every entry with a NUL: one more entry must not hide the others. */
	if (yes && buf[size - 1] == '\0') {
		static const char extra[] = "SEQNUM=1";
		char *more = malloc(size + sizeof(extra));

		if (!more)
			abort();
		memcpy(more, buf, size);
		memcpy(more + size, extra, sizeof(extra));
		fuzz_assert(uevent_is_new_vmgenid(more, size + sizeof(extra)));
		free(more);
	}
	free(buf);
	return 0;
}
