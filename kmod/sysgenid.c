// SPDX-License-Identifier: GPL-2.0-only
/*
 * sysgenid: the System Generation ID device, /dev/sysgenid, as an out-of-tree module.
 *
 * A u32 generation that rises on every VM fork the kernel sees (the vmfork notifier chain that
 * the vmgenid driver calls, in the path in which the kernel reseeds its own RNG) and on request
 * of a privileged process. Each open file is a watcher with its own acknowledged generation:
 * read/poll tell it that it is outdated, write acknowledges, and a control plane can count or
 * wait for the watchers that have not caught up yet. The ABI (both ioctl numberings) is in
 * include/uapi/linux/sysgenid.h.
 *
 * Sections: state and locking; raising the generation; watcher bookkeeping; file operations;
 * module init/exit. It does not persist the generation across boots or reloads: it starts at 0,
 * and snapsafed, which owns the system generation, follows changes rather than values.
 *
 * Locking. Everything that the watcher counts depend on (the generation, the raise sequence,
 * each file's acknowledged sequence and tracking flag, the two counts) changes only under
 * sysgenid.lock, an irq-safe spinlock, because the vmfork notifier may run in any context: on
 * ACPI machines the vmgenid driver calls it from the ACPI notify workqueue, but with a device
 * tree (Linux 6.10+) it calls it from a hard interrupt handler. So the notifier never sleeps,
 * never allocates and takes no lock but this one; wake-ups happen after the lock is dropped.
 * Wait conditions read single words with READ_ONCE and are re-checked by the wait macros.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>

#include "include/uapi/linux/sysgenid.h"

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#error "sysgenid needs Linux 5.18 or later: it is driven by register_random_vmfork_notifier()"
#endif

static bool track_on_open = true;
module_param(track_on_open, bool, 0644);
MODULE_PARM_DESC(track_on_open,
		 "count each newly opened file as a watcher (the v4 ABI, default); 0 gives Amazon Linux's opt-in tracking");

/* ---- State and locking ------------------------------------------------------------------ */

static struct {
	spinlock_t lock;
	/* The exposed generation; also mirrored at offset 0 of the page. */
	u32 gen;
	/*
	 * Counts raises and never wraps in practice. Files remember the sequence they
	 * acknowledged rather than the generation, so that a generation that comes round again
	 * (it is modulo 2^32, and min_gen lets root jump) can never make an outdated file look
	 * current and break the outdated count.
	 */
	unsigned long seq;
	unsigned int watchers;		/* tracked open files */
	unsigned int outdated;		/* tracked open files with acked_seq != seq */
	u32 *page;			/* the mmap page; u32 at offset 0 */
	wait_queue_head_t read_wq;	/* read and poll: woken on every raise */
	wait_queue_head_t outdated_wq;	/* WAIT_WATCHERS: woken on raise and when outdated hits 0 */
} sysgenid;

struct sysgenid_file {
	unsigned long acked_seq;
	bool tracked;
};

static bool sysgenid_file_outdated(const struct sysgenid_file *f)
{
	return READ_ONCE(f->acked_seq) != READ_ONCE(sysgenid.seq);
}

/* ---- Raising the generation -------------------------------------------------------------- */

/*
 * Raise to max(gen + 1, min_gen) (modulo 2^32), make every tracked file outdated and wake all
 * waiters. Safe in any context (see the locking note at the top).
 */
static u32 sysgenid_raise(u32 min_gen)
{
	unsigned long flags;
	u32 new_gen;

	spin_lock_irqsave(&sysgenid.lock, flags);
	new_gen = sysgenid.gen + 1;
	if (min_gen > new_gen)
		new_gen = min_gen;
	/* read() loads it without the lock. */
	WRITE_ONCE(sysgenid.gen, new_gen);
	WRITE_ONCE(sysgenid.seq, sysgenid.seq + 1);
	/* Files opened later record the new sequence, so exactly today's watchers are outdated. */
	WRITE_ONCE(sysgenid.outdated, sysgenid.watchers);
	/* One aligned 4-byte store: mappers never see a torn value. */
	WRITE_ONCE(sysgenid.page[0], new_gen);
	spin_unlock_irqrestore(&sysgenid.lock, flags);

	wake_up_interruptible_poll(&sysgenid.read_wq, EPOLLIN | EPOLLRDNORM);
	wake_up_interruptible_all(&sysgenid.outdated_wq);
	return new_gen;
}

static int sysgenid_vmfork(struct notifier_block *nb, unsigned long action, void *data)
{
	u32 gen = sysgenid_raise(0);

	pr_info("generation %u after virtual machine fork\n", gen);
	return NOTIFY_DONE;
}

static struct notifier_block sysgenid_vmfork_nb = {
	.notifier_call = sysgenid_vmfork,
};

/* ---- Watcher bookkeeping ----------------------------------------------------------------- */

/* Caller holds the lock. Returns true when the last outdated watcher went away. */
static bool sysgenid_untrack_locked(struct sysgenid_file *f)
{
	if (!f->tracked)
		return false;
	f->tracked = false;
	sysgenid.watchers--;
	if (f->acked_seq != sysgenid.seq) {
		WRITE_ONCE(sysgenid.outdated, sysgenid.outdated - 1);
		return sysgenid.outdated == 0;
	}
	return false;
}

static void sysgenid_set_tracking(struct sysgenid_file *f, bool on)
{
	unsigned long flags;
	bool wake = false;

	spin_lock_irqsave(&sysgenid.lock, flags);
	if (on && !f->tracked) {
		f->tracked = true;
		sysgenid.watchers++;
		if (f->acked_seq != sysgenid.seq)
			WRITE_ONCE(sysgenid.outdated, sysgenid.outdated + 1);
	} else if (!on) {
		wake = sysgenid_untrack_locked(f);
	}
	spin_unlock_irqrestore(&sysgenid.lock, flags);
	if (wake)
		wake_up_interruptible_all(&sysgenid.outdated_wq);
}

/* Returns 0 when no watcher is outdated, -EINTR when the caller is, -ETIMEDOUT, or a signal. */
static long sysgenid_wait_watchers(struct sysgenid_file *f, unsigned long timeout_ms)
{
	long ret;

#define SYSGENID_WAIT_DONE (READ_ONCE(sysgenid.outdated) == 0 || sysgenid_file_outdated(f))
	if (timeout_ms == 0) {
		ret = wait_event_interruptible(sysgenid.outdated_wq, SYSGENID_WAIT_DONE);
	} else {
		/* Clamp so that the conversion to ns cannot overflow; that is 292 years. */
		u64 ms = min_t(u64, timeout_ms, KTIME_MAX / NSEC_PER_MSEC);

		ret = wait_event_interruptible_hrtimeout(sysgenid.outdated_wq, SYSGENID_WAIT_DONE,
							 ms_to_ktime(ms));
	}
#undef SYSGENID_WAIT_DONE
	/* The caller's own staleness wins: it must acknowledge before it can wait for others. */
	if (sysgenid_file_outdated(f))
		return -EINTR;
	/* The last acknowledgement may have raced with the timer: success is success. */
	if (ret == -ETIME)
		return READ_ONCE(sysgenid.outdated) == 0 ? 0 : -ETIMEDOUT;
	/*
	 * A signal: report EINTR rather than restarting, since a restart would start the whole
	 * timeout again.
	 */
	if (ret == -ERESTARTSYS)
		return -EINTR;
	return ret;
}

/* ---- File operations --------------------------------------------------------------------- */

static int sysgenid_open(struct inode *inode, struct file *file)
{
	struct sysgenid_file *f;
	unsigned long flags;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;

	spin_lock_irqsave(&sysgenid.lock, flags);
	/* A new file starts current: it has not lived through any raise. */
	f->acked_seq = sysgenid.seq;
	f->tracked = READ_ONCE(track_on_open);
	if (f->tracked)
		sysgenid.watchers++;
	spin_unlock_irqrestore(&sysgenid.lock, flags);

	file->private_data = f;
	return stream_open(inode, file);
}

static int sysgenid_release(struct inode *inode, struct file *file)
{
	struct sysgenid_file *f = file->private_data;

	/* A watcher that goes away, crashed or not, stops counting. */
	sysgenid_set_tracking(f, false);
	kfree(f);
	return 0;
}

static ssize_t sysgenid_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct sysgenid_file *f = file->private_data;
	u32 gen;
	int ret;

	if (count < sizeof(gen))
		return -EINVAL;

	if (!sysgenid_file_outdated(f)) {
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(sysgenid.read_wq, sysgenid_file_outdated(f));
		if (ret)
			return ret;
	}
	/* A raise between the wait and here only makes the value newer, which is what we want. */
	gen = READ_ONCE(sysgenid.gen);
	if (copy_to_user(buf, &gen, sizeof(gen)))
		return -EFAULT;
	return sizeof(gen);
}

static ssize_t sysgenid_write(struct file *file, const char __user *buf, size_t count,
			      loff_t *ppos)
{
	struct sysgenid_file *f = file->private_data;
	unsigned long flags;
	bool wake = false;
	u32 gen;

	if (count != sizeof(gen))
		return -EINVAL;
	if (copy_from_user(&gen, buf, sizeof(gen)))
		return -EFAULT;

	spin_lock_irqsave(&sysgenid.lock, flags);
	/* Only the current generation acknowledges: a stale one means the caller missed a raise. */
	if (gen != sysgenid.gen) {
		spin_unlock_irqrestore(&sysgenid.lock, flags);
		return -EINVAL;
	}
	if (f->acked_seq != sysgenid.seq) {
		WRITE_ONCE(f->acked_seq, sysgenid.seq);
		if (f->tracked) {
			WRITE_ONCE(sysgenid.outdated, sysgenid.outdated - 1);
			wake = sysgenid.outdated == 0;
		}
	}
	spin_unlock_irqrestore(&sysgenid.lock, flags);
	if (wake)
		wake_up_interruptible_all(&sysgenid.outdated_wq);
	return sizeof(gen);
}

static __poll_t sysgenid_poll(struct file *file, poll_table *wait)
{
	struct sysgenid_file *f = file->private_data;

	poll_wait(file, &sysgenid.read_wq, wait);
	return sysgenid_file_outdated(f) ? EPOLLIN | EPOLLRDNORM : 0;
}

static long sysgenid_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sysgenid_file *f = file->private_data;

	switch (cmd) {
	case SYSGENID_GET_OUTDATED_WATCHERS:
		return READ_ONCE(sysgenid.outdated);
	case SYSGENID_WAIT_WATCHERS:
	case SYSGENID_E4_WAIT_WATCHERS:
		return sysgenid_wait_watchers(f, arg);
	case SYSGENID_FORCE_GEN_UPDATE:
	case SYSGENID_E4_TRIGGER_GEN_UPDATE:
		/*
		 * Checked against the initial user namespace: root in a user namespace must
		 * not be able to move the whole system's generation.
		 */
		if (!capable(CAP_CHECKPOINT_RESTORE) && !capable(CAP_SYS_ADMIN))
			return -EACCES;
		if (arg > U32_MAX)
			return -EINVAL;
		sysgenid_raise(arg);
		return 0;
	case SYSGENID_E4_SET_WATCHER_TRACKING:
		sysgenid_set_tracking(f, arg != 0);
		return 0;
	default:
		return -ENOTTY;
	}
}

static int sysgenid_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff != 0 || vma_pages(vma) != 1)
		return -EINVAL;
	/* The page is the kernel's: nobody writes it, not even through mprotect() later. */
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYWRITE);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_flags &= ~VM_MAYWRITE;
#endif
	return vm_insert_page(vma, vma->vm_start, virt_to_page(sysgenid.page));
}

static const struct file_operations sysgenid_fops = {
	/* Pins the module while any file (or a mapping, which holds the file) is open. */
	.owner		= THIS_MODULE,
	.open		= sysgenid_open,
	.release	= sysgenid_release,
	.read		= sysgenid_read,
	.write		= sysgenid_write,
	.poll		= sysgenid_poll,
	.unlocked_ioctl	= sysgenid_ioctl,
	/* The arguments are plain integers, so the 64-bit handler serves 32-bit callers too. */
	.compat_ioctl	= sysgenid_ioctl,
	.mmap		= sysgenid_mmap,
	.llseek		= noop_llseek,
};

static struct miscdevice sysgenid_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "sysgenid",
	.fops	= &sysgenid_fops,
	/*
	 * Everyone may watch and acknowledge; raising is checked by capability in the ioctl.
	 * A watcher that never acknowledges only makes WAIT_WATCHERS callers use their timeout.
	 */
	.mode	= 0666,
};

/* ---- Module init/exit -------------------------------------------------------------------- */

static int __init sysgenid_init(void)
{
	int ret;

	spin_lock_init(&sysgenid.lock);
	init_waitqueue_head(&sysgenid.read_wq);
	init_waitqueue_head(&sysgenid.outdated_wq);
	sysgenid.page = (u32 *)get_zeroed_page(GFP_KERNEL);
	if (!sysgenid.page)
		return -ENOMEM;

	if (!IS_ENABLED(CONFIG_VMGENID))
		pr_warn("kernel built without CONFIG_VMGENID: only FORCE_GEN_UPDATE raises the generation\n");
	/* Before the device exists, so that no fork can fall between an open and the hook. */
	ret = register_random_vmfork_notifier(&sysgenid_vmfork_nb);
	if (ret)
		goto err_page;
	ret = misc_register(&sysgenid_misc);
	if (ret)
		goto err_notifier;
	return 0;

err_notifier:
	unregister_random_vmfork_notifier(&sysgenid_vmfork_nb);
err_page:
	free_page((unsigned long)sysgenid.page);
	return ret;
}

static void __exit sysgenid_exit(void)
{
	/*
	 * No file is open here (each pins the module), so nothing but the notifier can touch the
	 * state. Unregistering it waits for a running callback (the chain's rwsem), so after it
	 * returns the page can go.
	 */
	unregister_random_vmfork_notifier(&sysgenid_vmfork_nb);
	misc_deregister(&sysgenid_misc);
	free_page((unsigned long)sysgenid.page);
}

module_init(sysgenid_init);
module_exit(sysgenid_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("System Generation ID (/dev/sysgenid) driven by the VM-fork notifier");
MODULE_AUTHOR("The snapsafe authors");
MODULE_VERSION("0.1.0");
