/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files snapsafed trusts are what it would have made itself, or the start fails
 * (docs/daemon.md, "Files"): a compat file that is a symlink is refused and its target
 * (a root-only file) keeps its mode and content; a new compat file appears under its name
 * complete (created under a temporary name and renamed: inotify never sees its name
 * created or modified in place), one page, 0644; an existing compat file's value is a
 * floor for the generation of a fresh runtime directory and never goes down; a second
 * daemon (on another runtime directory) on the same compat file is refused while the
 * first keeps publishing; a runtime directory owned by another user, writable by group
 * or others, or a symlink is refused and the page in it untouched; a page or state file
 * that is a symlink, a state file that is a FIFO, a device, a symlink to /dev/zero or
 * larger than 1023 bytes is refused at once, never read (a hang is a failure here: the
 * daemon is killed after TD_WAIT_MS); and an explicitly named notifier path that does
 * not exist stops the start with exit status 2. Each case starts its own daemon on its
 * own directory. Runs as root (chown to uid 65534, mknod).
 * Usage: test-daemon-files SNAPSAFED
 */
#include <dirent.h>
#include <endian.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/sysmacros.h>

#include "daemon-util.h"

enum {
	NOBODY		= 65534,
	COMPAT_FLOOR	= 50,
	STATE_MAX_BYTES	= 1023,
};

static const char *snapsafed;

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0)
		test_fail("write %s: %s", path, strerror(errno));
	close(fd);
}

/* The whole of a small file; its length, or -1 when it cannot be read. */
static ssize_t read_file(const char *path, void *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size);
	close(fd);
	return n;
}

static uint32_t compat_word(const char *path)
{
	uint32_t v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || pread(fd, &v, sizeof(v), 0) != sizeof(v))
		test_fail("read %s: %s", path, strerror(errno));
	close(fd);
	return le32toh(v);
}

static void make_rt(const struct td *t)
{
	if (mkdir(t->rt, 0755) < 0 || chmod(t->rt, 0755) < 0)
		test_fail("mkdir %s: %s", t->rt, strerror(errno));
}

/* The log names the file and the rule: exactly one line holds @needle. */
static void assert_logged(const struct td *t, const char *needle)
{
	if (td_log_count(t, needle) != 1)
		test_fail("the log (%s) does not say '%s'", t->log, needle);
}

/* A page from an earlier daemon: something recognisable, to prove it is left alone. */
static void plant_page(const char *path, char page[SNAPSAFE_PAGE_SIZE])
{
	memset(page, 0xa5, SNAPSAFE_PAGE_SIZE);
	write_file(path, page, SNAPSAFE_PAGE_SIZE, 0644);
}

static void assert_untouched(const char *path, const void *want, size_t len, mode_t mode)
{
	char buf[SNAPSAFE_PAGE_SIZE + 1];
	struct stat st;

	if (stat(path, &st) < 0)
		test_fail("%s is gone: %s", path, strerror(errno));
	if ((st.st_mode & 07777) != mode)
		test_fail("%s: mode %04o, it was %04o", path, (unsigned)(st.st_mode & 07777),
			  (unsigned)mode);
	if (read_file(path, buf, sizeof(buf)) != (ssize_t)len || memcmp(buf, want, len) != 0)
		test_fail("%s: its content changed (size now %lld, was %zu)", path,
			  (long long)st.st_size, len);
}

/* What a failed start in step 1 leaves in its page: at most zeros, never RUNNING. */
static void assert_page_not_running(const struct td *t)
{
	char path[400];
	struct snapsafe_page pg;

	snprintf(path, sizeof(path), "%s/generation", t->rt);
	if (read_file(path, &pg, sizeof(pg)) == (ssize_t)sizeof(pg) &&
	    (pg.flags & SNAPSAFE_PAGE_RUNNING))
		test_fail("%s says RUNNING after a failed start", path);
}

TEST(test_compat_symlink_is_refused_and_its_target_untouched)
{
	static const char secret[] = "root only: do not touch\n";
	char target[400], needle[512];
	struct stat st;
	struct td t;

	td_init(&t, snapsafed);
	snprintf(target, sizeof(target), "%s/root-only", t.dir);
	write_file(target, secret, sizeof(secret) - 1, 0600);
	assert_eq(symlink(target, t.compat), 0);

	td_assert_exit(&t, td_start_fails(&t, "--sysgenid-compat", t.compat), 1);
	snprintf(needle, sizeof(needle), "Refusing compat file %s: it is a symlink", t.compat);
	assert_logged(&t, needle);
	assert_untouched(target, secret, sizeof(secret) - 1, 0600);
	assert_eq(lstat(t.compat, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_page_not_running(&t);
	td_cleanup(&t);
}

struct seen {
	unsigned mask;
	uint32_t moved_to_cookie;
	int moved_to_at, close_write_at;	/* event index, -1: not seen */
};

/*
 * A new compat file is created complete under a temporary name in its directory and
 * renamed into place: the only event under its own name is IN_MOVED_TO, from the
 * temporary file that was written and closed before. (A file created in place shows
 * IN_CREATE and then IN_MODIFY, when it is grown or written, under its name: a client
 * that opens it in between maps an empty or short file.)
 */
TEST(test_new_compat_file_appears_complete_under_its_name)
{
	union {
		struct inotify_event ev;
		char buf[64 * 1024];
	} u;
	struct seen compat = { .moved_to_at = -1, .close_write_at = -1 };
	struct seen tmp = { .moved_to_at = -1, .close_write_at = -1 };
	uint32_t tmp_cookie = 0;
	int fd, index = 0;
	struct stat st;
	struct dirent *de;
	DIR *dir;
	ssize_t n;
	struct td t;

	td_init(&t, snapsafed);
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		test_skip("no inotify: %s", strerror(errno));
	if (inotify_add_watch(fd, t.dir, IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO |
			      IN_CLOSE_WRITE) < 0)
		test_fail("inotify_add_watch %s: %s", t.dir, strerror(errno));
	td_start(&t, "--sysgenid-compat", t.compat);

	/* The compat file is made before the socket accepts: its events are all queued. */
	while ((n = read(fd, u.buf, sizeof(u.buf))) > 0) {
		for (char *p = u.buf; p < u.buf + n; index++) {
			const struct inotify_event *ev = (const void *)p;
			const char *name = ev->len ? ev->name : "";
			struct seen *s = NULL;

			p += sizeof(*ev) + ev->len;
			if (strcmp(name, "compat") == 0)
				s = &compat;
			else if (strncmp(name, "compat.", 7) == 0)
				s = &tmp;
			if (!s)
				continue;
			s->mask |= ev->mask;
			if (ev->mask & IN_MOVED_TO) {
				s->moved_to_cookie = ev->cookie;
				s->moved_to_at = index;
			}
			if (ev->mask & IN_MOVED_FROM)
				tmp_cookie = ev->cookie;
			if (ev->mask & IN_CLOSE_WRITE)
				s->close_write_at = index;
		}
	}
	close(fd);
	if (compat.mask & IN_CREATE)
		test_fail("the compat file was created under its own name (IN_CREATE on it)");
	if (compat.mask & IN_MODIFY)
		test_fail("the compat file was written or grown under its own name (IN_MODIFY)");
	if (!(compat.mask & IN_MOVED_TO))
		test_fail("the compat file was not renamed into place (events 0x%x)", compat.mask);
	/* It came from a temporary file that was created, written and closed first. */
	if ((tmp.mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM)) !=
	    (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM))
		test_fail("no temporary file written and renamed beside it (events 0x%x)", tmp.mask);
	assert_eq(tmp_cookie, compat.moved_to_cookie);
	assert_true(tmp.close_write_at >= 0 && tmp.close_write_at < compat.moved_to_at);

	assert_eq(lstat(t.compat, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_eq(st.st_size, SNAPSAFE_PAGE_SIZE);
	assert_eq(st.st_mode & 07777, 0644);
	assert_eq(st.st_uid, 0);
	assert_eq(st.st_nlink, 1);
	assert_eq(compat_word(t.compat), td_status(&t).generation);
	/* No temporary file is left behind. */
	dir = opendir(t.dir);
	assert_true(dir != NULL);
	while ((de = readdir(dir)))
		if (strncmp(de->d_name, "compat.", 7) == 0)
			test_fail("temporary file %s/%s left behind", t.dir, de->d_name);
	closedir(dir);
	/* And it follows the generation. */
	assert_eq(td_u64(&t, "TRIGGER"), 1);
	assert_eq(compat_word(t.compat), 1);
	td_finish(&t);
}

/* Samples the compat file while a daemon starts: the lowest value it ever held. */
struct sampler {
	const volatile uint32_t *word;
	volatile bool stop;
	uint32_t min;
};

static void *sample_compat(void *arg)
{
	struct sampler *s = arg;

	while (!s->stop) {
		uint32_t v = le32toh(*s->word);

		if (v < s->min)
			s->min = v;
	}
	return NULL;
}

/*
 * Clients of the compat file saw its value: a daemon on a fresh runtime directory (no
 * state file, no page) starts from it, and the file never shows less.
 */
TEST(test_existing_compat_value_is_a_floor_for_a_fresh_runtime_dir)
{
	static char content[SNAPSAFE_PAGE_SIZE];
	const struct snapsafe_page *pg;
	struct sampler s = { .min = UINT32_MAX };
	uint32_t floor_le = htole32(COMPAT_FLOOR);
	char state[400], buf[1024];
	pthread_t th;
	void *map;
	int fd;
	struct td t;

	td_init(&t, snapsafed);
	memcpy(content, &floor_le, sizeof(floor_le));
	write_file(t.compat, content, sizeof(content), 0644);
	fd = open(t.compat, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	map = mmap(NULL, SNAPSAFE_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	s.word = map;
	assert_eq(pthread_create(&th, NULL, sample_compat, &s), 0);
	td_start(&t, "--sysgenid-compat", t.compat);
	s.stop = true;
	pthread_join(th, NULL);

	if (td_status(&t).generation != COMPAT_FLOOR)
		test_fail("generation %u on a fresh runtime directory, expected the compat file's %d",
			  td_status(&t).generation, COMPAT_FLOOR);
	pg = td_map_page(&t);
	assert_eq((uint32_t)snapsafe_page_gen_epoch(pg), COMPAT_FLOOR);
	if (s.min < COMPAT_FLOOR)
		test_fail("the compat file went down to %u during the start", s.min);
	assert_eq(compat_word(t.compat), COMPAT_FLOOR);
	/* Persisted, so a restart keeps it even without the compat file. */
	snprintf(state, sizeof(state), "%s/state", t.rt);
	assert_true(read_file(state, buf, sizeof(buf) - 1) > 0);
	assert_eq(strncmp(buf, "generation=50\n", 14), 0);
	assert_eq(td_u64(&t, "TRIGGER"), COMPAT_FLOOR + 1);
	assert_eq(le32toh(*(const volatile uint32_t *)map), COMPAT_FLOOR + 1);

	/* Again from a fresh runtime directory: the value the daemon itself published last. */
	assert_eq(td_stop_signal(&t, SIGTERM), 0);
	nftw(t.rt, td_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	td_start(&t, "--sysgenid-compat", t.compat);
	assert_eq(td_status(&t).generation, COMPAT_FLOOR + 1);
	assert_eq(compat_word(t.compat), COMPAT_FLOOR + 1);
	munmap(map, SNAPSAFE_PAGE_SIZE);
	munmap((void *)pg, SNAPSAFE_PAGE_SIZE);
	td_finish(&t);
}

TEST(test_second_daemon_on_the_same_compat_file_is_refused)
{
	char needle[512];
	struct td a, b;

	td_init(&a, snapsafed);
	td_start(&a, "--sysgenid-compat", a.compat);
	assert_eq(td_u64(&a, "TRIGGER"), 1);
	assert_eq(compat_word(a.compat), 1);

	td_init(&b, snapsafed);
	td_assert_exit(&b, td_start_fails(&b, "--sysgenid-compat", a.compat), 1);
	snprintf(needle, sizeof(needle), "Another snapsafed publishes %s", a.compat);
	assert_logged(&b, needle);
	assert_page_not_running(&b);
	assert_eq(compat_word(a.compat), 1);

	/* The first one still runs and still publishes. */
	assert_true(td_alive(&a));
	assert_eq(td_u64(&a, "TRIGGER"), 2);
	assert_eq(compat_word(a.compat), 2);
	assert_eq(td_status(&a).generation, 2);
	td_cleanup(&b);
	td_finish(&a);
}

/* A runtime directory against one of the rules: the start fails, its page is left alone. */
static void assert_runtime_dir_refused(struct td *t, const char *page_dir, const char *rule)
{
	char page[SNAPSAFE_PAGE_SIZE], path[400], needle[512];

	snprintf(path, sizeof(path), "%s/generation", page_dir);
	plant_page(path, page);
	td_assert_exit(t, td_start_fails_argv(t, NULL), 1);
	snprintf(needle, sizeof(needle), "Refusing runtime directory %s: %s", t->rt, rule);
	assert_logged(t, needle);
	assert_untouched(path, page, sizeof(page), 0644);
}

TEST(test_runtime_dir_of_another_user_is_refused)
{
	struct td t;

	td_init(&t, snapsafed);
	make_rt(&t);
	assert_eq(chown(t.rt, NOBODY, NOBODY), 0);
	assert_runtime_dir_refused(&t, t.rt, "owned by uid 65534");
	td_cleanup(&t);
}

TEST(test_runtime_dir_writable_by_group_or_others_is_refused)
{
	static const struct {
		mode_t mode;
		const char *rule;
	} cases[] = {
		{ 0777, "writable by group or others (mode 0777)" },
		{ 0775, "writable by group or others (mode 0775)" },
		{ 01777, "writable by group or others (mode 1777)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct td t;

		td_init(&t, snapsafed);
		make_rt(&t);
		assert_eq(chmod(t.rt, cases[i].mode), 0);
		assert_runtime_dir_refused(&t, t.rt, cases[i].rule);
		td_cleanup(&t);
	}
}

TEST(test_runtime_dir_that_is_a_symlink_is_refused)
{
	char real[400];
	struct td t;

	td_init(&t, snapsafed);
	snprintf(real, sizeof(real), "%s/real-rt", t.dir);
	assert_eq(mkdir(real, 0755), 0);
	assert_eq(symlink(real, t.rt), 0);
	assert_runtime_dir_refused(&t, real, "it is a symlink");
	td_cleanup(&t);
}

/*
 * The directory that holds the runtime directory: writable by others without the sticky
 * bit, they could swap the runtime directory between the daemon's checks and its opens.
 */
TEST(test_runtime_dir_in_a_parent_others_may_write_is_refused)
{
	struct td t;

	td_init(&t, snapsafed);
	assert_eq(chmod(t.dir, 0777), 0);
	td_assert_exit(&t, td_start_fails_argv(&t, NULL), 1);
	assert_logged(&t, "without the sticky bit");
	/* The sticky bit (as on /tmp) is enough: nobody may rename another's entry. */
	assert_eq(chmod(t.dir, 01777), 0);
	td_start_argv(&t, NULL);
	td_cleanup(&t);
}

/* A temporary state file left by a daemon killed mid-write goes with the next start. */
TEST(test_stale_temporary_files_are_removed_at_start)
{
	char stale[400];
	struct td t;

	td_init(&t, snapsafed);
	make_rt(&t);
	snprintf(stale, sizeof(stale), "%s/state.tmp-99999-0", t.rt);
	write_file(stale, "generation=7\n", 13, 0600);
	td_start_argv(&t, NULL);
	assert_true(access(stale, F_OK) < 0 && errno == ENOENT);
	td_cleanup(&t);
}

TEST(test_page_or_state_file_that_is_a_symlink_is_refused)
{
	static const char state_text[] = "generation=1000\nepoch_counter=3\n";
	char target[400], link[400], needle[512], page[SNAPSAFE_PAGE_SIZE];
	struct td t;

	/* A state file planted as a symlink: not followed, not read, not replaced. */
	td_init(&t, snapsafed);
	make_rt(&t);
	snprintf(target, sizeof(target), "%s/state-target", t.dir);
	write_file(target, state_text, sizeof(state_text) - 1, 0600);
	snprintf(link, sizeof(link), "%s/state", t.rt);
	assert_eq(symlink(target, link), 0);
	td_assert_exit(&t, td_start_fails_argv(&t, NULL), 1);
	snprintf(needle, sizeof(needle), "Refusing state file %s: it is a symlink", link);
	assert_logged(&t, needle);
	assert_untouched(target, state_text, sizeof(state_text) - 1, 0600);
	assert_page_not_running(&t);
	td_cleanup(&t);

	/* The page. */
	td_init(&t, snapsafed);
	make_rt(&t);
	snprintf(target, sizeof(target), "%s/page-target", t.dir);
	plant_page(target, page);
	snprintf(link, sizeof(link), "%s/generation", t.rt);
	assert_eq(symlink(target, link), 0);
	td_assert_exit(&t, td_start_fails_argv(&t, NULL), 1);
	snprintf(needle, sizeof(needle), "Refusing page file %s: it is a symlink", link);
	assert_logged(&t, needle);
	assert_untouched(target, page, sizeof(page), 0644);
	td_cleanup(&t);
}

/* A state file that is no regular file, or too large, is refused at once, never read. */
TEST(test_state_file_fifo_device_or_oversized_is_refused_at_once)
{
	enum { FIFO, ZERO_LINK, DEVICE, OVERSIZED, N_CASES };
	static const char *const names[] = { "a FIFO", "a symlink to /dev/zero",
					     "a character device", "1024 bytes" };

	for (int i = 0; i < N_CASES; i++) {
		char path[400], needle[512], big[STATE_MAX_BYTES + 1];
		uint64_t start;
		struct td t;
		int r = 0;

		td_init(&t, snapsafed);
		make_rt(&t);
		snprintf(path, sizeof(path), "%s/state", t.rt);
		fprintf(stderr, "state file: %s\n", names[i]);
		switch (i) {
		case FIFO:
			r = mkfifo(path, 0600);
			snprintf(needle, sizeof(needle), "Refusing state file %s: not a regular file",
				 path);
			break;
		case ZERO_LINK:
			r = symlink("/dev/zero", path);
			snprintf(needle, sizeof(needle), "Refusing state file %s: it is a symlink",
				 path);
			break;
		case DEVICE:
			r = mknod(path, S_IFCHR | 0600, makedev(1, 5));
			if (r < 0 && errno == EPERM) {
				fprintf(stderr, "skipped: mknod is not allowed here\n");
				td_cleanup(&t);
				continue;
			}
			snprintf(needle, sizeof(needle), "Refusing state file %s: not a regular file",
				 path);
			break;
		case OVERSIZED:
			/* generation=7, then comment lines up to one byte over the limit. */
			memset(big, '\n', sizeof(big));
			memcpy(big, "generation=7\n", 13);
			for (size_t k = 13; k + 1 < sizeof(big); k += 2)
				big[k] = '#';
			big[sizeof(big) - 1] = '\n';
			write_file(path, big, sizeof(big), 0600);
			snprintf(needle, sizeof(needle), "Refusing state file %s: larger than %d bytes",
				 path, STATE_MAX_BYTES);
			break;
		}
		if (r < 0)
			test_fail("make %s: %s", path, strerror(errno));
		start = td_now_ms();
		td_assert_exit(&t, td_start_fails_argv(&t, NULL), 1);
		fprintf(stderr, "refused in %llu ms\n", (unsigned long long)(td_now_ms() - start));
		/* On a file system mounted nodev the device cannot even be opened: also a refusal. */
		if (i == DEVICE && td_log_count(&t, needle) == 0)
			snprintf(needle, sizeof(needle), "Cannot open state file %s", path);
		assert_logged(&t, needle);
		assert_page_not_running(&t);
		td_cleanup(&t);
	}

	/* The limit itself is allowed: 1023 bytes are read. */
	{
		char path[400], text[STATE_MAX_BYTES];
		struct td t;

		td_init(&t, snapsafed);
		make_rt(&t);
		snprintf(path, sizeof(path), "%s/state", t.rt);
		memset(text, '\n', sizeof(text));
		memcpy(text, "generation=7\n", 13);
		for (size_t k = 13; k + 1 < sizeof(text); k += 2)
			text[k] = '#';
		write_file(path, text, sizeof(text), 0600);
		td_start_argv(&t, NULL);
		assert_eq(td_status(&t).generation, 7);
		td_finish(&t);
	}
}

/* A path given explicitly must work: a missing one is a configuration error (exit 2). */
TEST(test_explicit_notifier_path_that_is_missing_stops_the_start)
{
	static const struct {
		const char *option;
		const char *message;
	} cases[] = {
		{ "--kmsg-path", "vmfork-kmsg: cannot open --kmsg-path %s" },
		{ "--vmclock-path", "vmclock: --vmclock-path %s" },
		{ "--sysgenid-path", "sysgenid: --sysgenid-path %s" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char missing[400], needle[512];
		struct td t;

		td_init(&t, snapsafed);
		snprintf(missing, sizeof(missing), "%s/missing-device", t.dir);
		fprintf(stderr, "%s %s\n", cases[i].option, missing);
		/* The later of two --kmsg-path options counts (td_exec passes its own first). */
		td_assert_exit(&t, td_start_fails(&t, cases[i].option, missing), 2);
		snprintf(needle, sizeof(needle), cases[i].message, missing);
		assert_logged(&t, needle);
		assert_page_not_running(&t);
		td_cleanup(&t);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		test_fail("usage: %s SNAPSAFED [SNAPSAFECTL]", argv[0]);
	if (geteuid() != 0)
		test_skip("needs root: chown to uid %d, mknod", NOBODY);
	snapsafed = argv[1];
	RUN(test_compat_symlink_is_refused_and_its_target_untouched);
	RUN(test_new_compat_file_appears_complete_under_its_name);
	RUN(test_existing_compat_value_is_a_floor_for_a_fresh_runtime_dir);
	RUN(test_second_daemon_on_the_same_compat_file_is_refused);
	RUN(test_runtime_dir_of_another_user_is_refused);
	RUN(test_runtime_dir_writable_by_group_or_others_is_refused);
	RUN(test_runtime_dir_that_is_a_symlink_is_refused);
	RUN(test_runtime_dir_in_a_parent_others_may_write_is_refused);
	RUN(test_stale_temporary_files_are_removed_at_start);
	RUN(test_page_or_state_file_that_is_a_symlink_is_refused);
	RUN(test_state_file_fifo_device_or_oversized_is_refused_at_once);
	RUN(test_explicit_notifier_path_that_is_missing_stops_the_start);
	return 0;
}
