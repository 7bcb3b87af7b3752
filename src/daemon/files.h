/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The files snapsafed trusts: the runtime directory, the page, the state file and the
 * compat file. Each is opened without following symlinks, without blocking (a FIFO or a
 * device planted there must not hang start-up) and only if it is what the daemon itself
 * would have created: a regular file (a directory) owned by the daemon's user, not
 * writable by group or others, with one link. Anything else is refused with a message
 * that says which rule it broke. New files are created complete under a temporary name
 * and linked into place once, so no reader ever sees one half-made.
 */
#ifndef SNAPSAFE_DAEMON_FILES_H
#define SNAPSAFE_DAEMON_FILES_H

#include <stddef.h>
#include <sys/types.h>

/*
 * runtime_dir_prepare() - create @dir (0755) if missing, then insist that it is a
 * directory, not a symlink, owned by us and writable by nobody else.
 * Return: 0, or a negative errno (logged).
 */
int runtime_dir_prepare(const char *dir);

/*
 * runtime_dir_remove_stale() - remove the temporary files a killed daemon left in @dir
 * while it replaced one. Only with the page lock held: they may be another daemon's.
 */
void runtime_dir_remove_stale(const char *dir);

/*
 * file_open_trusted() - open an existing file that must be ours (see above).
 * @flags: O_RDONLY or O_RDWR (O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC and O_NOCTTY are added)
 * @what: what the file is, for messages ("state file")
 * Return: the fd, -ENOENT when missing (not logged), or another negative errno (logged).
 */
int file_open_trusted(const char *path, int flags, const char *what);

/*
 * file_create_complete() - make @path hold @size bytes of @content (mode 0644), created
 * under a temporary name in the same directory and linked into place only if @path
 * does not exist by then. Return: 0, -EEXIST when @path appeared meanwhile (open that
 * instead), or another negative errno (logged).
 */
int file_create_complete(const char *path, const void *content, size_t size, const char *what);

/*
 * file_open_or_create() - file_open_trusted(), or file_create_complete() and then open it
 * when it is missing. Return: the fd, or a negative errno (logged).
 */
int file_open_or_create(const char *path, int flags, const void *content, size_t size,
			const char *what);

/*
 * file_read_small() - read all of a trusted file of at most @size - 1 bytes into @buf
 * (NUL-terminated). Return: the length, -ENOENT when missing, -EFBIG when larger, or
 * another negative errno (logged).
 */
ssize_t file_read_small(const char *path, char *buf, size_t size, const char *what);

/*
 * file_map_page() - the page and the compat file: file_open_or_create() with @content (one
 * page), locked exclusively (one daemon per file), readable by everyone, at least a page
 * long, mapped shared read-write into *@ret_map.
 * @owner: what another daemon does with it, for the message ("owns", "publishes")
 * Return: the fd, -EBUSY when another daemon holds the lock, or a negative errno (logged).
 */
int file_map_page(const char *path, const void *content, const char *what, const char *owner,
		  void **ret_map);

/* read_all() - read until @size bytes or end of file. Return: the length or -errno. */
ssize_t read_all(int fd, void *buf, size_t size);

/*
 * file_replace() - atomically replace @path with @size bytes of @content (mode 0600):
 * a fresh temporary file, written, then renamed over. Return: 0 or a negative errno.
 */
int file_replace(const char *path, const void *content, size_t size);

#endif
