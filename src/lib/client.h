/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket side of the generation API: connect to snapsafed's control socket and run
 * one request/reply exchange of docs/protocol.md on it. Used by the watcher and control
 * functions of libsnapsafe and by snapsafectl. Internal: not exported from the shared
 * library. It never consumes a byte past the reply it waits for, so the `GEN` event lines
 * that follow a reply stay in the socket and keep a watcher's fd readable while outdated.
 */
#ifndef SNAPSAFE_LIB_CLIENT_H
#define SNAPSAFE_LIB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/*
 * client_set_runtime_dir() - connect to @dir instead of the usual lookup
 * ($SNAPSAFE_RUNTIME_DIR, else /run/snapsafe); NULL restores the lookup.
 * For snapsafectl --runtime-dir; call it before any connection is made. @dir is not copied.
 */
void client_set_runtime_dir(const char *dir);

/* client_runtime_dir() - the directory client_connect(NULL) uses. */
const char *client_runtime_dir(void);

/*
 * client_connect() - connect to <dir>/control.sock.
 * @dir: the runtime directory, NULL for client_runtime_dir()
 * Return: a blocking SOCK_CLOEXEC stream socket, or a negative errno from socket(2)/connect(2)
 * (-ENOENT: no socket file; -ECONNREFUSED: nobody listens on it), -ENAMETOOLONG.
 */
int client_connect(const char *dir);

/*
 * client_send() - write all of @buf, retrying partial writes and EINTR; never raises SIGPIPE.
 * Return: 0, or -EPIPE/-ECONNRESET when the daemon went away, another negative errno.
 */
int client_send(int fd, const void *buf, size_t len);

/*
 * client_read_line() - receive exactly one line, and not a byte more.
 * @buf, @size: the line without its '\n', NUL-terminated
 * Peeks up to the newline, then receives that many bytes; blocks until a whole line is in.
 * Return: the length, -ECONNRESET at end of file, -EPROTO for a line that does not fit.
 */
int client_read_line(int fd, char *buf, size_t size);

/*
 * client_read_reply() - read lines until the reply, discarding the `GEN` event lines before it.
 * @buf, @size: hold the reply line; @ret->words points into it
 * @ret: NULL, or written for `OK` (the words after it) and for `ERR` (its free text)
 * Return: 0 for `OK`, the negative errno named by `ERR`, -EPROTO for anything else.
 */
int client_read_reply(int fd, char *buf, size_t size, struct protocol_line *ret);

/*
 * client_request() - send @request (one line, without its '\n') and read its reply.
 * Return: as client_read_reply().
 */
int client_request(int fd, const char *request, char *buf, size_t size,
		   struct protocol_line *ret);

/*
 * client_request_value() - a request whose `OK` carries a number.
 * @ret_value: that number, written only on success
 * Return: 0, a negative errno from the reply, -EPROTO when the `OK` carries no number.
 */
int client_request_value(int fd, const char *request, uint64_t *ret_value);

/*
 * client_call_value() - connect to client_runtime_dir(), run one client_request_value(),
 * disconnect. Return: as client_connect() and client_request_value().
 */
int client_call_value(const char *request, uint64_t *ret_value);

/*
 * watcher_any_outdated() - does this process hold a watcher whose socket has an event queued,
 * i.e. one that is outdated? (watcher.c; for snapsafe_wait_watchers(), which must not wait
 * for the caller itself.)
 */
bool watcher_any_outdated(void);

#endif
