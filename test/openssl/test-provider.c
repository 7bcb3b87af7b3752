/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenSSL provider in a C program, loaded by configuration alone: OPENSSL_CONF names the
 * shipped openssl-snapsafe.cnf (through OPENSSL_CONF_INCLUDE, the drop-in of the source tree)
 * and OPENSSL_MODULES the folder of snapsafe.so, so RAND_bytes() and RAND_priv_bytes() are
 * served by the provider without a line of code for it.
 *
 * Usage: test-provider release|probe|control|generation
 *   release  the module as installed: the generators are SNAPSAFE, the life cycle and
 *            parameters OpenSSL relies on, locking, SNAPSAFE as the parent of OpenSSL's own
 *            DRBGs, no output repeated across fork() (also a raw clone() that OpenSSL's
 *            fork handlers never see), and a kernel that refuses random bytes is an error
 *            with a reason string, never bytes.
 *   probe    the same, against the probe build (probe.c) whose counters prove the path:
 *            each request is one snapsafe_getrandom() call of its size, the engine seeds
 *            itself for it (SNAPSAFE_ENGINE=always) or not (never), prediction resistance
 *            goes to the kernel; with SNAPSAFE_OSSL_RANDOM_PROVIDER=1 (OpenSSL 3.5's
 *            random_provider configured) each one arrives through that entry.
 *   control  the negative control of the fork check, with the probe: with the engine's
 *            state in plain memory, the same check does find repeats.
 *   generation  with the probe and a generation page the test writes itself, as the
 *            daemon would: OpenSSL's DRBG seeded from SNAPSAFE reseeds from it at its first
 *            request after the generation rises, and not before.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <snapsafe/snapsafe.h>

#include "../rng/deadline.h"
#include "../rng/outputs.h"
#include "page.h"
#include "probe.h"
#include "refuse.h"
#include "test.h"

static const char *const kernel_refused = "the kernel refused random bytes";
static bool probe_mode;
static bool engine_always;
static bool via_random_provider;	/* OpenSSL 3.5's random_provider is configured */

/* ---- Helpers ------------------------------------------------------------- */

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Does the error queue hold an error of the snapsafe provider with @reason as its reason
 * string? Empties the queue; prints what it held when @print.
 */
static bool errors_have(const char *reason, bool print)
{
	const char *file, *func, *data;
	bool found = false;
	unsigned long e;
	int line, flags;

	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		const char *lib = ERR_lib_error_string(e), *why = ERR_reason_error_string(e);

		if (print)
			fprintf(stderr, "  error: %s: %s: %s\n", lib ? lib : "?", why ? why : "?",
				(flags & ERR_TXT_STRING) && data ? data : "");
		if (lib && why && strcmp(lib, "snapsafe") == 0 && strcmp(why, reason) == 0)
			found = true;
	}
	return found;
}

/* A symbol of the probe module that OpenSSL loaded from OPENSSL_MODULES. */
static void *probe_sym(const char *name)
{
	char path[4096];
	const char *dir = getenv("OPENSSL_MODULES");
	void *h, *sym;

	if (!dir)
		test_fail("OPENSSL_MODULES is not set");
	snprintf(path, sizeof(path), "%s/snapsafe.so", dir);
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		test_fail("%s is not loaded: OpenSSL did not load the provider (%s)", path, dlerror());
	sym = dlsym(h, name);
	if (!sym)
		test_fail("%s has no %s: is OPENSSL_MODULES the probe's folder?", path, name);
	dlclose(h);
	return sym;
}

static struct probe_counts probe(void)
{
	struct probe_counts c;

	((probe_fn *)probe_sym("snapsafe_provider_probe"))(&c);
	return c;
}

static const char *rand_name(EVP_RAND_CTX *ctx, const char **ret_provider)
{
	const EVP_RAND *r = ctx ? EVP_RAND_CTX_get0_rand(ctx) : NULL;

	*ret_provider = r ? OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(r)) : "(none)";
	return r ? EVP_RAND_get0_name(r) : "(none)";
}

/* A configuration file with @random_section as its [random] section; caller unlinks it. */
static void write_config(char *path, size_t size, const char *random_section)
{
	FILE *f;
	int fd;

	snprintf(path, size, "%s/snapsafe-ossl-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		test_fail("mkstemp: %s", strerror(errno));
	fprintf(f, "openssl_conf = openssl_init\n[openssl_init]\nrandom = random_sect\n"
		"providers = provider_sect\n[provider_sect]\ndefault = default_sect\n"
		"snapsafe = snapsafe_sect\n[default_sect]\nactivate = 1\n[snapsafe_sect]\n"
		"activate = 1\n[random_sect]\n%s", random_section);
	fclose(f);
}

/* ---- The generators ------------------------------------------------------- */

TEST(test_all_three_generators_are_snapsafe)
{
	EVP_RAND_CTX *ctxs[] = { RAND_get0_primary(NULL), RAND_get0_public(NULL),
				 RAND_get0_private(NULL) };
	const char *what[] = { "primary", "public", "private" };

	for (size_t i = 0; i < 3; i++) {
		const char *prov, *name = rand_name(ctxs[i], &prov);

		if (strcmp(name, "SNAPSAFE") != 0 || strcmp(prov, "snapsafe") != 0)
			test_fail("the %s generator is %s from %s, not SNAPSAFE from snapsafe",
				  what[i], name, prov);
		assert_eq(EVP_RAND_get_state(ctxs[i]), EVP_RAND_STATE_READY);
		assert_eq(EVP_RAND_get_strength(ctxs[i]), 256);
	}
	assert_eq(RAND_status(), 1);
}

TEST(test_rand_bytes_and_priv_bytes_fill_and_differ)
{
	static unsigned char a[1 << 20], b[1 << 20];
	const size_t sizes[] = { 1, 32, 100, 4096, sizeof(a) };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], cmp = n < 16 ? n : 16;

		assert_eq(RAND_bytes(a, (int)n), 1);
		assert_eq(RAND_bytes(b, (int)n), 1);
		if (n >= 8)
			assert_true(memcmp(a, b, cmp) != 0 &&
				    memcmp(a + n - cmp, b + n - cmp, cmp) != 0);
		assert_eq(RAND_priv_bytes(a, (int)n), 1);
		assert_eq(RAND_priv_bytes(b, (int)n), 1);
		if (n >= 8)
			assert_true(memcmp(a, b, cmp) != 0 &&
				    memcmp(a + n - cmp, b + n - cmp, cmp) != 0);
	}
	assert_eq(RAND_bytes(a, 0), 1);
}

TEST(test_context_parameters)
{
	EVP_RAND_CTX *ctx = RAND_get0_public(NULL);
	const OSSL_PARAM *gettable = EVP_RAND_CTX_gettable_params(ctx);
	size_t max_request = 0;
	unsigned int counter = 12345;
	OSSL_PARAM params[] = {
		OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, &max_request),
		OSSL_PARAM_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, &counter),
		OSSL_PARAM_END,
	};

	assert_true(OSSL_PARAM_locate_const(gettable, OSSL_RAND_PARAM_STATE) != NULL);
	assert_true(OSSL_PARAM_locate_const(gettable, OSSL_RAND_PARAM_STRENGTH) != NULL);
	assert_true(OSSL_PARAM_locate_const(gettable, OSSL_RAND_PARAM_MAX_REQUEST) != NULL);
	assert_eq(EVP_RAND_CTX_get_params(ctx, params), 1);
	assert_eq(max_request, 1u << 30);
	/* The reseed counter a child DRBG watches is the system generation. */
	assert_eq(counter, snapsafe_generation());
}

TEST(test_life_cycle_of_a_context)
{
	EVP_RAND *rand = EVP_RAND_fetch(NULL, "SNAPSAFE", "provider=snapsafe");
	EVP_RAND_CTX *ctx;
	unsigned char b[64], add[16] = "additional";

	assert_true(rand != NULL);
	ctx = EVP_RAND_CTX_new(rand, NULL);
	assert_true(ctx != NULL);
	assert_eq(EVP_RAND_get_state(ctx), EVP_RAND_STATE_UNINITIALISED);
	memset(b, 0xaa, sizeof(b));
	assert_eq(EVP_RAND_generate(ctx, b, sizeof(b), 0, 0, NULL, 0), 0);
	assert_true(errors_have("generator not instantiated", false));
	assert_true(all_zero(b, sizeof(b)));

	assert_eq(EVP_RAND_instantiate(ctx, 512, 0, NULL, 0, NULL), 0);
	assert_true(errors_have("requested strength above 256 bits", false));
	assert_eq(EVP_RAND_instantiate(ctx, 256, 1, (const unsigned char *)"pers", 4, NULL), 1);
	assert_eq(EVP_RAND_get_state(ctx), EVP_RAND_STATE_READY);
	assert_eq(EVP_RAND_generate(ctx, b, sizeof(b), 256, 0, add, sizeof(add)), 1);
	assert_true(!all_zero(b, sizeof(b)));
	assert_eq(EVP_RAND_generate(ctx, b, sizeof(b), 257, 0, NULL, 0), 0);
	assert_true(errors_have("requested strength above 256 bits", false));
	assert_eq(EVP_RAND_reseed(ctx, 1, add, sizeof(add), add, sizeof(add)), 1);
	assert_eq(EVP_RAND_nonce(ctx, b, 16), 1);
	assert_eq(EVP_RAND_verify_zeroization(ctx), 1);

	assert_eq(EVP_RAND_uninstantiate(ctx), 1);
	assert_eq(EVP_RAND_get_state(ctx), EVP_RAND_STATE_UNINITIALISED);
	assert_eq(EVP_RAND_generate(ctx, b, sizeof(b), 0, 0, NULL, 0), 0);
	assert_true(errors_have("generator not instantiated", false));
	assert_eq(EVP_RAND_reseed(ctx, 0, NULL, 0, NULL, 0), 0);
	assert_true(errors_have("generator not instantiated", false));
	EVP_RAND_CTX_free(ctx);
	EVP_RAND_free(rand);
}

static void *draw_shared(void *arg)
{
	EVP_RAND_CTX *ctx = arg;
	unsigned char b[48];

	for (int i = 0; i < 2000; i++)
		if (EVP_RAND_generate(ctx, b, sizeof(b), 0, 0, NULL, 0) != 1)
			return (void *)1;
	return NULL;
}

TEST(test_a_locked_context_is_shared_by_threads)
{
	EVP_RAND *rand = EVP_RAND_fetch(NULL, "SNAPSAFE", NULL);
	EVP_RAND_CTX *ctx = EVP_RAND_CTX_new(rand, NULL);
	pthread_t t[2];
	void *r0, *r1;

	assert_eq(EVP_RAND_enable_locking(ctx), 1);
	assert_eq(EVP_RAND_enable_locking(ctx), 1);
	assert_eq(EVP_RAND_instantiate(ctx, 0, 0, NULL, 0, NULL), 1);
	for (int i = 0; i < 2; i++)
		assert_eq(pthread_create(&t[i], NULL, draw_shared, ctx), 0);
	assert_eq(pthread_join(t[0], &r0), 0);
	assert_eq(pthread_join(t[1], &r1), 0);
	assert_true(r0 == NULL && r1 == NULL);
	EVP_RAND_CTX_free(ctx);
	EVP_RAND_free(rand);
}

/* seed = SNAPSAFE: OpenSSL's CTR-DRBGs keep their own state and take seeds and nonces from us. */
TEST(test_parent_of_openssl_drbgs)
{
	OSSL_LIB_CTX *lib = OSSL_LIB_CTX_new();
	char path[4096];
	unsigned char a[32], b[32];
	struct probe_counts before = { 0 }, after;
	const char *prov, *name;

	write_config(path, sizeof(path), "seed = SNAPSAFE\nseed_properties = provider=snapsafe\n");
	assert_true(lib != NULL);
	if (!OSSL_LIB_CTX_load_config(lib, path)) {
		errors_have("", true);
		test_fail("cannot load %s", path);
	}
	unlink(path);
	if (probe_mode)
		before = probe();
	assert_eq(RAND_bytes_ex(lib, a, sizeof(a), 0), 1);
	assert_eq(RAND_priv_bytes_ex(lib, b, sizeof(b), 0), 1);
	assert_true(memcmp(a, b, sizeof(a)) != 0);
	name = rand_name(RAND_get0_primary(lib), &prov);
	if (strcmp(name, "CTR-DRBG") != 0)
		test_fail("the primary generator is %s from %s, not OpenSSL's CTR-DRBG", name, prov);
	if (probe_mode) {
		/* The primary's seed and nonce, at least, came through the provider. */
		after = probe();
		if (after.calls < before.calls + 2)
			test_fail("OpenSSL's DRBG took %llu seeds or nonces from SNAPSAFE, not 2",
				  (unsigned long long)(after.calls - before.calls));
	}
	OSSL_LIB_CTX_free(lib);
}

/* ---- fork() and clone() ---------------------------------------------------- */

enum { FORK_CHILDREN = 64 };

/* A child's draws, written to the pipe: 32 bytes each of RAND_bytes and RAND_priv_bytes. */
static int child_draws(int fd)
{
	unsigned char b[2 * OUTPUT_SIZE];

	if (RAND_bytes(b, OUTPUT_SIZE) != 1 || RAND_priv_bytes(b + OUTPUT_SIZE, OUTPUT_SIZE) != 1)
		return 1;
	return write(fd, b, sizeof(b)) == (ssize_t)sizeof(b) ? 0 : 1;
}

/* A process made by the raw clone system call: glibc's and OpenSSL's fork handlers never run. */
static pid_t raw_clone(void)
{
	return (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
}

/*
 * fork_draws() - the parent draws, then FORK_CHILDREN children made by fork() and as many by
 * raw clone() draw, then the parent again. Return: how many 32-byte outputs repeat.
 */
static size_t fork_draws(void)
{
	struct outputs o = { 0 };
	unsigned char b[2 * OUTPUT_SIZE];
	int p[2];
	size_t repeats;

	assert_eq(RAND_bytes(b, OUTPUT_SIZE), 1);
	assert_eq(RAND_priv_bytes(b + OUTPUT_SIZE, OUTPUT_SIZE), 1);
	outputs_add(&o, b);
	outputs_add(&o, b + OUTPUT_SIZE);
	for (int i = 0; i < 2 * FORK_CHILDREN; i++) {
		pid_t pid;
		int status;

		assert_eq(pipe2(p, O_CLOEXEC), 0);
		pid = i < FORK_CHILDREN ? fork() : raw_clone();
		if (pid < 0)
			test_fail("fork: %s", strerror(errno));
		if (pid == 0) {
			close(p[0]);
			_exit(child_draws(p[1]));
		}
		close(p[1]);
		if (read(p[0], b, sizeof(b)) != (ssize_t)sizeof(b))
			test_fail("child %d (%s) sent no output", i, i < FORK_CHILDREN ? "fork" : "clone");
		close(p[0]);
		assert_eq(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		outputs_add(&o, b);
		outputs_add(&o, b + OUTPUT_SIZE);
	}
	assert_eq(RAND_bytes(b, OUTPUT_SIZE), 1);
	outputs_add(&o, b);
	repeats = outputs_repeats(&o);
	outputs_free(&o);
	return repeats;
}

TEST(test_outputs_never_repeat_across_fork_and_clone)
{
	size_t repeats = fork_draws();

	if (repeats)
		test_fail("%zu outputs repeated across fork()/clone()", repeats);
}

/*
 * The negative control (test-provider control, a process of its own, since the memory is
 * chosen before the first request): the probe puts the engine's state in plain memory, so
 * that children inherit it; the same check must then find repeats, or it could not have
 * found them above.
 */
TEST(test_the_fork_check_finds_repeats_of_a_shared_state)
{
	void (*unsafe)(void) = (void (*)(void))probe_sym("snapsafe_provider_probe_unsafe_memory");
	size_t repeats;

	unsafe();
	repeats = fork_draws();
	fprintf(stderr, "  %zu of %d outputs repeated with the state in plain memory\n", repeats,
		4 * FORK_CHILDREN + 3);
	if (repeats == 0)
		test_fail("no repeats from a state in plain memory: the check cannot see one");
}

/* ---- The generation as the reseed counter ---------------------------------------- */

static struct snapsafe_page *gen_page;
static char gen_dir[] = "/tmp/snapsafe-ossl-gen-XXXXXX";

static void gen_page_remove(void)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/generation", gen_dir);
	unlink(path);
	rmdir(gen_dir);
}

/* Play the daemon (test-provider generation): a page in a runtime directory of our own. */
static void gen_page_create(void)
{
	char path[64];
	int fd;

	if (!mkdtemp(gen_dir))
		test_fail("mkdtemp: %s", strerror(errno));
	/* The mapping stays valid once the file is gone; exit() removes it on failures too. */
	atexit(gen_page_remove);
	snprintf(path, sizeof(path), "%s/generation", gen_dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		test_fail("%s: %s", path, strerror(errno));
	gen_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (gen_page == MAP_FAILED)
		test_fail("mmap: %s", strerror(errno));
	close(fd);
	gen_page->magic = SNAPSAFE_PAGE_MAGIC;
	gen_page->version = SNAPSAFE_PAGE_VERSION;
	gen_page->header_size = sizeof(*gen_page);
	gen_page->daemon_pid = (uint32_t)getpid();
	__atomic_store_n(&gen_page->flags, SNAPSAFE_PAGE_RUNNING, __ATOMIC_RELEASE);
	__atomic_store_n((uint64_t *)(void *)gen_page,
			 snapsafe_gen_epoch_pack(1, SNAPSAFE_EPOCH_MAKE(SNAPSAFE_NOTIFIER_CONTROL, 1)),
			 __ATOMIC_RELEASE);
	setenv("SNAPSAFE_RUNTIME_DIR", gen_dir, 1);
}

static void gen_page_raise(void)
{
	uint32_t gen = gen_page->generation + 1, epoch = SNAPSAFE_EPOCH_COUNTER(gen_page->epoch) + 1;

	__atomic_store_n((uint64_t *)(void *)gen_page,
			 snapsafe_gen_epoch_pack(gen, SNAPSAFE_EPOCH_MAKE(SNAPSAFE_NOTIFIER_CONTROL,
									 epoch)),
			 __ATOMIC_RELEASE);
}

/*
 * seed = SNAPSAFE: the DRBG seeded from the provider (OpenSSL's primary) reseeds from it at
 * its first request after the generation rises, and not before.
 */
TEST(test_a_child_drbg_reseeds_after_the_generation_rises)
{
	OSSL_LIB_CTX *lib = OSSL_LIB_CTX_new();
	EVP_RAND_CTX *primary;
	unsigned char b[32];
	char path[4096];
	uint64_t calls;

	write_config(path, sizeof(path), "seed = SNAPSAFE\n");
	assert_true(lib && OSSL_LIB_CTX_load_config(lib, path));
	unlink(path);
	assert_eq(snapsafe_generation(), 1);
	assert_eq(RAND_bytes_ex(lib, b, sizeof(b), 0), 1);
	primary = RAND_get0_primary(lib);
	assert_true(primary != NULL);
	/* Its first request may reseed once: it was instantiated before it read the counter. */
	assert_eq(EVP_RAND_generate(primary, b, sizeof(b), 0, 0, NULL, 0), 1);
	calls = probe().calls;
	assert_eq(EVP_RAND_generate(primary, b, sizeof(b), 0, 0, NULL, 0), 1);
	if (probe().calls != calls)
		test_fail("the DRBG took a seed from SNAPSAFE with the generation unchanged");
	gen_page_raise();
	assert_eq(snapsafe_generation(), 2);
	assert_eq(EVP_RAND_generate(primary, b, sizeof(b), 0, 0, NULL, 0), 1);
	if (probe().calls != calls + 1)
		test_fail("after the generation rose the DRBG took %llu seeds from SNAPSAFE, not 1",
			  (unsigned long long)(probe().calls - calls));
	OSSL_LIB_CTX_free(lib);
}

/* ---- The kernel refuses ------------------------------------------------------ */

static void refused_body(void *arg)
{
	unsigned char b[64];
	char why[256], path[4096];
	OSSL_LIB_CTX *lib;
	int r = refuse_kernel(why, sizeof(why));

	if (r < 0) {
		fprintf(stderr, "  %s\n", why);
		_exit(r == -1 ? 77 : 3);
	}
	/* fork() wiped the engine's state: every request needs a seed the kernel refuses. */
	memset(b, 0xaa, sizeof(b));
	if (RAND_bytes(b, sizeof(b)) == 1)
		_exit(10);
	if (!all_zero(b, sizeof(b)))
		_exit(11);
	if (!errors_have(kernel_refused, true))
		_exit(12);
	memset(b, 0xaa, sizeof(b));
	if (RAND_priv_bytes(b, 32) == 1 || !all_zero(b, 32))
		_exit(13);
	if (!errors_have(kernel_refused, true))
		_exit(14);
	/* As the seed source of OpenSSL's DRBGs, a new library context. */
	write_config(path, sizeof(path), "seed = SNAPSAFE\n");
	lib = OSSL_LIB_CTX_new();
	if (!lib || !OSSL_LIB_CTX_load_config(lib, path))
		_exit(15);
	if (RAND_bytes_ex(lib, b, 32, 0) == 1)
		_exit(16);
	if (!errors_have(kernel_refused, true))
		_exit(17);
	unlink(path);
	if (probe_mode && probe().failures == 0)
		_exit(18);
	_exit(0);
}

TEST(test_a_refusing_kernel_is_an_error_never_bytes)
{
	unsigned char b[32];
	int status;
	pid_t pid;

	/* Seeded before the fork (always): the child must not be served from that seed. */
	assert_eq(RAND_bytes(b, sizeof(b)), 1);
	pid = child_start(refused_body, NULL);
	if (!child_wait_until(pid, deadline_now_ms() + 60000, &status)) {
		kill(pid, SIGKILL);
		test_fail("the refused child did not finish in 60 s");
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		test_skip("the kernel cannot be made to refuse here");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail("with the kernel refusing, the child failed check %d (status %d)",
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
}

/* ---- The path, through the probe -------------------------------------------- */

static void *first_draw_of_a_thread(void *arg)
{
	struct probe_counts *ret = arg;
	unsigned char b[32];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return (void *)1;
	*ret = probe();
	return NULL;
}

TEST(test_each_request_is_one_snapsafe_getrandom_call)
{
	static unsigned char b[1 << 20];
	struct probe_counts c0 = probe(), c1, c2, c3, t;
	pthread_t thread;
	void *r;

	assert_eq(RAND_bytes(b, 100), 1);
	c1 = probe();
	assert_eq(c1.calls - c0.calls, 1);
	assert_eq(c1.bytes - c0.bytes, 100);
	assert_eq(c1.thread_engine_requests - c0.thread_engine_requests, engine_always ? 1 : 0);
	assert_eq(c1.random_provider_calls - c0.random_provider_calls, via_random_provider ? 1 : 0);
	assert_eq(RAND_priv_bytes(b, 100), 1);
	assert_eq(RAND_bytes(b, sizeof(b)), 1);
	c2 = probe();
	assert_eq(c2.calls - c1.calls, 2);
	assert_eq(c2.bytes - c1.bytes, 100 + sizeof(b));
	assert_eq(c2.failures, 0);
	assert_eq(c2.random_provider_calls - c1.random_provider_calls, via_random_provider ? 2 : 0);

	/* Prediction resistance: straight to the kernel, never the engine. */
	assert_eq(EVP_RAND_generate(RAND_get0_public(NULL), b, 100, 0, 1, NULL, 0), 1);
	c3 = probe();
	assert_eq(c3.calls - c2.calls, 1);
	assert_eq(c3.flagged_calls - c2.flagged_calls, 1);
	assert_eq(c3.thread_engine_requests - c2.thread_engine_requests, 0);

	/* A new thread's first request seeds that thread's engine (always), or does not (never). */
	assert_eq(pthread_create(&thread, NULL, first_draw_of_a_thread, &t), 0);
	assert_eq(pthread_join(thread, &r), 0);
	assert_true(r == NULL);
	assert_eq(t.thread_reseeds, engine_always ? 1 : 0);
}

int main(int argc, char **argv)
{
	const char *engine = getenv("SNAPSAFE_ENGINE");

	if (argc != 2 || (strcmp(argv[1], "release") != 0 && strcmp(argv[1], "probe") != 0 &&
			  strcmp(argv[1], "control") != 0 && strcmp(argv[1], "generation") != 0))
		test_fail("usage: test-provider release|probe|control|generation");
	/* Before anything looks for the daemon's page. */
	if (strcmp(argv[1], "generation") == 0)
		gen_page_create();
	probe_mode = strcmp(argv[1], "release") != 0;
	via_random_provider = (getenv("SNAPSAFE_OSSL_RANDOM_PROVIDER") ?: "")[0] == '1';
	engine_always = engine && strcmp(engine, "always") == 0;
	if (!getenv("OPENSSL_CONF") || !getenv("OPENSSL_MODULES"))
		test_fail("OPENSSL_CONF and OPENSSL_MODULES must name the configuration and module");
	fprintf(stderr, "OpenSSL %s, SNAPSAFE_ENGINE=%s, %s%s\n",
		OpenSSL_version(OPENSSL_VERSION_STRING), engine ? engine : "(unset)", argv[1],
		via_random_provider ? ", random_provider" : "");
	if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL)) {
		errors_have("", true);
		test_fail("OpenSSL cannot load %s", getenv("OPENSSL_CONF"));
	}
	if (strcmp(argv[1], "control") == 0) {
		if (!engine_always)
			test_fail("the control needs SNAPSAFE_ENGINE=always");
		RUN(test_the_fork_check_finds_repeats_of_a_shared_state);
		return 0;
	}
	if (strcmp(argv[1], "generation") == 0) {
		RUN(test_a_child_drbg_reseeds_after_the_generation_rises);
		return 0;
	}
	RUN(test_all_three_generators_are_snapsafe);
	RUN(test_rand_bytes_and_priv_bytes_fill_and_differ);
	RUN(test_context_parameters);
	RUN(test_life_cycle_of_a_context);
	RUN(test_a_locked_context_is_shared_by_threads);
	RUN(test_parent_of_openssl_drbgs);
	RUN(test_outputs_never_repeat_across_fork_and_clone);
	if (probe_mode)
		RUN(test_each_request_is_one_snapsafe_getrandom_call);
	RUN(test_a_refusing_kernel_is_an_error_never_bytes);
	return 0;
}
