/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapsafe-criu-hook: a CRIU action script (criu --action-script, or runc's criu
 * configuration) that raises the generation of the snapsafed whose page a restored container
 * maps, before anything in the container runs (docs/containers.md, snapsafe-criu-hook(8)).
 *
 * It raises at post-restore: every restored task exists, with its memory, and none has run
 * anything of its own yet; it will not until CRIU resumes the tree. Post-restore, not
 * pre-resume, because CRIU aborts the restore (and kills the tree) when a post-restore script
 * fails, while a failed pre-resume script is only logged and the tree resumes all the same.
 * The page is looked up as the restored tree sees it: the runtime directory inside
 * /proc/$CRTOOLS_INIT_PID/root, with no symbolic link leading out of that root (hook-resolve.c),
 * and its owner (the flock holder) decides:
 * - a daemon outside the tree (the host's, bind-mounted into the container): TRIGGER on its
 *   socket, then the page must show the new generation;
 * - a daemon inside the tree (the container's own, stopped too): the raise is written into
 *   the page (hook-page.c), and at post-resume, when it runs again, TRIGGER on its socket
 *   publishes the same generation and tells its watchers.
 * Anything that prevents the raise exits 1, which makes CRIU abort the restore. A tree in
 * which no page exists at that path has nothing that serves from one: exit 0, with a note.
 * Every other action: exit 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "parse-number.h"
#include "runtime-dir.h"

#define HOOK_NAME "snapsafe-criu-hook"

static const char *action;	/* CRTOOLS_SCRIPT_ACTION */

/* The restored tree: its root, and its page and socket as its processes name them. */
struct tree {
	pid_t init;
	int root;
	char page[HOOK_PATH_MAX];
	char sock[HOOK_PATH_MAX];
};

static int fail(const char *what, int error)
{
	/* At post-restore our exit status makes CRIU kill the tree; at post-resume it runs. */
	fprintf(stderr, HOOK_NAME " (%s): %s: %s%s\n", action, what, strerror(error),
		strcmp(action, "post-restore") == 0 ? "; the restore must not go on" : "");
	return 1;
}

/* A file of the tree that could not be opened; without openat2() none can be, safely. */
static int fail_open(const struct tree *t, const char *path, int error)
{
	char what[HOOK_PATH_MAX + 64];

	if (error == ENOSYS)
		return fail("looking up the restored tree's files inside its root needs openat2() "
			    "(Linux 5.6)", error);
	snprintf(what, sizeof(what), "%s in the restored tree (/proc/%d/root)", path,
		 (int)t->init);
	return fail(what, error);
}

static int tree_paths(struct tree *t, pid_t init)
{
	const char *dir = runtime_dir(NULL);
	int a, b;

	t->init = init;
	if (dir[0] != '/')
		return -EINVAL;
	a = snprintf(t->page, sizeof(t->page), "%s/%s", dir, SNAPSAFE_PAGE_FILE);
	b = snprintf(t->sock, sizeof(t->sock), "%s/%s", dir, SNAPSAFE_SOCKET_FILE);
	return a < 0 || b < 0 || (size_t)a >= sizeof(t->page) || (size_t)b >= sizeof(t->sock) ?
		-ENAMETOOLONG : 0;
}

/* The host's (or any outside) daemon: it runs, so ask it, and check the page it changed. */
static int raise_outside(const struct tree *t, int page, pid_t owner)
{
	int sock = hook_open_in(t->root, t->sock, S_IFSOCK);
	char what[HOOK_PATH_MAX + 64];
	int64_t gen, seen;

	if (sock < 0)
		return fail_open(t, t->sock, -sock);
	gen = hook_trigger(sock, 0);
	close(sock);
	snprintf(what, sizeof(what), "TRIGGER on %s (snapsafed pid %d)", t->sock, (int)owner);
	if (gen < 0)
		return fail(what, (int)-gen);
	seen = hook_page_generation(page);
	if (seen < 0)
		return fail_open(t, t->page, (int)-seen);
	if (seen < gen)
		return fail("the page the restored tree maps did not change", ESTALE);
	fprintf(stderr, HOOK_NAME ": generation %lld (snapsafed pid %d)\n", (long long)gen,
		(int)owner);
	return 0;
}

static int post_restore(const struct tree *t, int page)
{
	pid_t owner;
	int64_t gen;
	int r;

	r = hook_owner(page, &owner);
	if (r < 0)
		return fail("no snapsafed holds the page the restored tree maps", -r);
	if (!hook_in_tree(owner, t->init))
		return raise_outside(t, page, owner);
	gen = hook_page_raise(page);
	if (gen < 0)
		return fail("raising in the page of the restored snapsafed", (int)-gen);
	fprintf(stderr, HOOK_NAME ": generation %lld written for the restored snapsafed (pid %d)\n",
		(long long)gen, (int)owner);
	return 0;
}

/* After post_restore() wrote the page of a restored daemon: that daemon runs now; tell it. */
static int post_resume(const struct tree *t, int page)
{
	int64_t page_gen, gen;
	pid_t owner;
	int sock;

	if (hook_owner(page, &owner) < 0 || !hook_in_tree(owner, t->init))
		return 0;
	page_gen = hook_page_generation(page);
	if (page_gen < 0)
		return fail_open(t, t->page, (int)-page_gen);
	sock = hook_open_in(t->root, t->sock, S_IFSOCK);
	if (sock < 0)
		return fail_open(t, t->sock, -sock);
	gen = hook_trigger(sock, (uint32_t)page_gen);
	close(sock);
	if (gen < 0)
		return fail("TRIGGER on the restored snapsafed (the page was raised; its watchers "
			    "were not told)", (int)-gen);
	return 0;
}

int main(int argc, char **argv)
{
	const char *init_s = getenv("CRTOOLS_INIT_PID");
	struct tree t;
	uint64_t init;
	int page, r;

	(void)argv;
	action = getenv("CRTOOLS_SCRIPT_ACTION");
	if (argc > 1 || !action) {
		fprintf(stderr, "usage: criu restore --action-script " HOOK_NAME " ...\n"
			"A CRIU action script: it reads CRTOOLS_SCRIPT_ACTION and CRTOOLS_INIT_PID.\n");
		return 2;
	}
	if (strcmp(action, "post-restore") != 0 && strcmp(action, "post-resume") != 0)
		return 0;
	if (!init_s || parse_uint_str(init_s, 10, INT32_MAX, &init) < 0 || init < 1)
		return fail("CRTOOLS_INIT_PID is not a pid", EINVAL);
	r = tree_paths(&t, (pid_t)init);
	if (r < 0)
		return fail("the runtime directory", -r);
	t.root = hook_root_open(t.init);
	if (t.root < 0)
		return fail("the restored tree's root directory", -t.root);
	page = hook_open_in(t.root, t.page, S_IFREG);
	if (page == -ENOENT) {
		if (strcmp(action, "post-restore") == 0)
			fprintf(stderr, HOOK_NAME ": no %s in the restored tree (/proc/%d/root): "
				"nothing in it maps a snapsafe page there\n", t.page, (int)t.init);
		r = 0;
	} else if (page < 0) {
		r = fail_open(&t, t.page, -page);
	} else {
		r = strcmp(action, "post-restore") == 0 ? post_restore(&t, page) :
							 post_resume(&t, page);
		close(page);
	}
	close(t.root);
	return r;
}
