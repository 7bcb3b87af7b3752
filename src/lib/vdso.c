/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finds the kernel's __vdso_getrandom (Linux 6.11+) by walking the vDSO's ELF
 * dynamic symbol table, the way the kernel selftest vdso_test_getrandom does,
 * because glibc 2.36 does not call it. Calls it with this thread's opaque state,
 * which lives in the thread's slot (state.c) in droppable / wipe-on-fork memory,
 * as the vDSO requires. No lock and no one-time initialisation that could make a
 * caller wait: the lookup is idempotent and may run in several threads at once.
 *
 * Deliberately not here: any fallback. The caller (kernel-random.c) uses the
 * syscall when this returns -ENOSYS.
 */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>

#include "state.h"
#include "vdso.h"

typedef ssize_t vgetrandom_fn(void *buf, size_t len, unsigned int flags, void *opaque,
			      size_t opaque_len);

/* What the vDSO says about its opaque state when asked with opaque_len == ~0. */
struct vgetrandom_params {
	uint32_t size_of_opaque_state;
	uint32_t mmap_prot;
	uint32_t mmap_flags;
	uint32_t reserved[13];
};

enum vdso_state {
	VDSO_UNKNOWN,
	VDSO_NONE,
	VDSO_AVAILABLE,
};

/*
 * Found by vdso_probe(), which may run in several threads at once and in a signal handler:
 * it only reads the vDSO image and asks the vDSO, so they all find the same, and each stores
 * the function and its state size before publishing the state with release order.
 */
static vgetrandom_fn *vgetrandom;
static size_t vgetrandom_state_size;
static unsigned int vdso_state;

static const void *vdso_dyn_ptr(uintptr_t base, const ElfW(Phdr) *load, ElfW(Addr) addr)
{
	/* Dynamic entries hold link-time addresses; rebase them on the mapped image. */
	return (const void *)(base + addr - load->p_vaddr + load->p_offset);
}

static size_t gnu_hash_symbol_count(const uint32_t *h)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = h + 4 + bloom_size * (sizeof(ElfW(Addr)) / 4);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;

	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

static void *vdso_lookup(const char *version, const char *name)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
	const ElfW(Phdr) *ph, *load = NULL, *dynph = NULL;
	const ElfW(Dyn) *dyn;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const ElfW(Versym) *versym = NULL;
	const ElfW(Verdef) *verdef = NULL;
	size_t nsyms = 0;

	if (!base || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return NULL;
	ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load)
			load = &ph[i];
		else if (ph[i].p_type == PT_DYNAMIC)
			dynph = &ph[i];
	}
	if (!load || !dynph)
		return NULL;
	dyn = (const ElfW(Dyn) *)(base + dynph->p_offset);
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB:
			symtab = vdso_dyn_ptr(base, load, dyn->d_un.d_ptr);
			break;
		case DT_STRTAB:
			strtab = vdso_dyn_ptr(base, load, dyn->d_un.d_ptr);
			break;
		case DT_HASH:
			nsyms = ((const uint32_t *)vdso_dyn_ptr(base, load, dyn->d_un.d_ptr))[1];
			break;
		case DT_GNU_HASH:
			if (!nsyms)
				nsyms = gnu_hash_symbol_count(vdso_dyn_ptr(base, load,
									   dyn->d_un.d_ptr));
			break;
		case DT_VERSYM:
			versym = vdso_dyn_ptr(base, load, dyn->d_un.d_ptr);
			break;
		case DT_VERDEF:
			verdef = vdso_dyn_ptr(base, load, dyn->d_un.d_ptr);
			break;
		}
	}
	if (!symtab || !strtab || !nsyms)
		return NULL;

	for (size_t i = 0; i < nsyms; i++) {
		const ElfW(Sym) *sym = &symtab[i];

		if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF ||
		    strcmp(strtab + sym->st_name, name) != 0)
			continue;
		if (versym && verdef) {
			/* Match the symbol's version definition by name, e.g. LINUX_2.6. */
			const ElfW(Verdef) *vd = verdef;
			ElfW(Half) want = versym[i] & 0x7fff;
			int ok = 0;

			for (;;) {
				if (!(vd->vd_flags & VER_FLG_BASE) && (vd->vd_ndx & 0x7fff) == want) {
					const ElfW(Verdaux) *aux = (const void *)((const char *)vd +
										  vd->vd_aux);
					ok = strcmp(strtab + aux->vda_name, version) == 0;
					break;
				}
				if (!vd->vd_next)
					break;
				vd = (const void *)((const char *)vd + vd->vd_next);
			}
			if (!ok)
				continue;
		}
		return (void *)(base + sym->st_value - load->p_vaddr + load->p_offset);
	}
	return NULL;
}

static bool vdso_probe(void)
{
	struct vgetrandom_params params = { 0 };
	vgetrandom_fn *fn;

	/*
	 * The vDSO's state must be wiped on fork too, so it needs the slot pool. While the pool's
	 * initialisation runs in another thread, use the syscall and decide later.
	 */
	if (!state_pool_init())
		return false;
	if (!state_pool_wipes_on_fork())
		goto none;
	fn = vdso_lookup("LINUX_2.6", "__vdso_getrandom");
	if (!fn)
		goto none;
	/* The documented probe: NULL buffer, zero length, ~0 opaque length. */
	if (fn(NULL, 0, 0, &params, ~0UL) != 0)
		goto none;
	if (params.size_of_opaque_state == 0 || params.size_of_opaque_state > SLOT_VDSO_STATE_MAX)
		goto none;
	__atomic_store_n(&vgetrandom_state_size, params.size_of_opaque_state, __ATOMIC_RELAXED);
	__atomic_store_n(&vgetrandom, fn, __ATOMIC_RELAXED);
	__atomic_store_n(&vdso_state, VDSO_AVAILABLE, __ATOMIC_RELEASE);
	return true;
none:
	__atomic_store_n(&vdso_state, VDSO_NONE, __ATOMIC_RELEASE);
	return false;
}

bool vdso_getrandom_available(void)
{
	unsigned int s = __atomic_load_n(&vdso_state, __ATOMIC_ACQUIRE);

	if (__builtin_expect(s != VDSO_UNKNOWN, 1))
		return s == VDSO_AVAILABLE;
	return vdso_probe();
}

ssize_t vdso_getrandom(void *buf, size_t len, unsigned int flags)
{
	struct slot *slot;
	ssize_t r;

	if (!vdso_getrandom_available())
		return -ENOSYS;
	slot = slot_get();
	if (!slot)
		return -ENOSYS;
	/*
	 * The vDSO keeps its own in_use flag in the state: a nested call from a
	 * signal handler on this thread falls back to the syscall inside the vDSO.
	 */
	r = __atomic_load_n(&vgetrandom, __ATOMIC_RELAXED)(buf, len, flags, slot_vdso_state(slot),
		__atomic_load_n(&vgetrandom_state_size, __ATOMIC_RELAXED));
	return r;
}
