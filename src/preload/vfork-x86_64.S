/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfork() and __vfork() for x86-64: glibc's own sequence (the vfork system call, with the
 * return address kept in a register because the child returns on the same stack and may
 * overwrite it) plus the mark of preload.h, so that requests a vfork child makes go to the
 * kernel and never touch the engine state of the thread whose memory it borrows.
 *
 *   1. Raise preload_vfork_depth before the system call. From here until step 3 the thread
 *      may be run by the child; a signal handler of the parent in this window is served by
 *      the kernel too, which is only slower.
 *   2. The child returns to the caller with the mark raised and keeps it for its life (it
 *      can only exec or _exit, and both end its use of this TLS).
 *   3. The parent, resumed once the child has done either, puts back the value it read in
 *      step 1 (kept in %esi, which the kernel preserves and each task has its own copy of):
 *      a nested vfork in the child cannot leave the mark cleared for the child, nor raised
 *      for the parent.
 *
 * Deliberately not here: clone() with CLONE_VM, posix_spawn() (glibc's child never calls the
 * random functions) and vfork made as a raw system call; docs/retrofit.md lists them.
 */
#include <asm/unistd.h>

#ifdef __CET__
#include <cet.h>
#else
#define _CET_ENDBR
#endif

	.text
	.p2align 4
	.globl	vfork
	.type	vfork, @function
	.globl	__vfork
	.type	__vfork, @function
vfork:
__vfork:
	.cfi_startproc
	_CET_ENDBR
	/* The return address leaves the stack that the child will share. */
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rdi

	/* 1: raise the mark, remembering the old value. */
	movq	preload_vfork_depth@GOTTPOFF(%rip), %rdx
	movl	%fs:(%rdx), %esi
	leal	1(%rsi), %ecx
	movl	%ecx, %fs:(%rdx)

	movl	$__NR_vfork, %eax
	syscall

	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rip, 0
	cmpq	$-4095, %rax
	jae	.Lfailed
	testq	%rax, %rax
	jz	.Lchild

	/* 3: the parent; the child has exec'd or exited. */
	movl	%esi, %fs:(%rdx)
	ret

.Lchild:
	/* 2: the child keeps the mark. */
#ifdef __CET__
	/*
	 * With a shadow stack (which this object declares it supports only when built with
	 * -fcf-protection), the child must not pop the entry that the parent's ret needs:
	 * jump back instead, as glibc does. RDSSP reads 0 when no shadow stack is in use.
	 */
	xorl	%ecx, %ecx
	rdsspq	%rcx
	testq	%rcx, %rcx
	jz	1f
	.cfi_remember_state
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rdi
	jmp	*%rdi
	.cfi_restore_state
1:
#endif
	ret

.Lfailed:
	/* No child: put the mark back and return -1 with errno set. */
	movl	%esi, %fs:(%rdx)
	negl	%eax
	movl	%eax, %edi
	jmp	preload_vfork_failed
	.cfi_endproc
	.size	vfork, .-vfork
	.size	__vfork, .-__vfork

	.section .note.GNU-stack, "", @progbits
