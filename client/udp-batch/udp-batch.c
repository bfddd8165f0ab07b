// Batched UDP I/O for Linux: recvmmsg/sendmmsg on an IPv4 socket polled by Node's own event loop.
// node:dgram makes one system call, and builds one Buffer and one address object in C++, per
// datagram; at uTP's packet rates (about 750 datagrams per MiB) that was most of a downloader's main
// thread. Here one system call reads up to 64 datagrams and one sends up to 64. Everything above
// the system calls (queueing, addresses, errors) is in batch-udp-io.ts.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SLOTS 64
// A slot holds the largest UDP payload, so no datagram is ever cut short; only the bytes a
// datagram fills are touched, so the pages of the rest are never made resident.
#define SLOT_BYTES 65536
// Readable events read at most this many batches before letting the loop run other work.
#define BATCHES_PER_EVENT 4

// Where recvmmsg reads, one per JavaScript environment (thread), shared by its sockets: a read is
// copied out before any JavaScript runs, and a process may hold a hundred sockets (birthday probing
// from behind a symmetric NAT), each of which would otherwise reserve 4 MiB.
struct read_area {
  uint8_t *scratch; // SLOTS * SLOT_BYTES, allocated with the first socket
  struct mmsghdr msgs[SLOTS];
  struct iovec iov[SLOTS];
  struct sockaddr_in from[SLOTS];
};

typedef struct {
  napi_env env;
  int fd;
  int events;  // UV_READABLE | UV_WRITABLE currently asked for
  uv_poll_t poll;
  napi_ref on_datagram; // (bytes: ArrayBuffer, index) => void; meta: offset, length, ip, port
  napi_ref on_writable; // () => void
  napi_ref meta_ref;
  napi_ref resource;    // the async resource every callback runs under
  int32_t *meta;        // SLOTS * 4, then the batch's datagram count
  napi_async_context async;
  struct read_area *area;
} batch_socket;

#define CHECK(call)                                                                              \
  do {                                                                                           \
    if ((call) != napi_ok) return NULL;                                                          \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// Calls a JavaScript callback as Node's own I/O callbacks are called: microtasks and
// process.nextTick callbacks run when it returns, and a throw becomes an uncaught exception.
static void call_js(batch_socket *s, napi_ref ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result, resource;
  napi_get_reference_value(env, ref, &fn);
  napi_get_reference_value(env, s->resource, &resource);
  napi_get_undefined(env, &recv);
  napi_callback_scope cb_scope;
  if (napi_open_callback_scope(env, resource, s->async, &cb_scope) == napi_ok) {
    if (napi_call_function(env, recv, fn, argc, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
    napi_close_callback_scope(env, cb_scope);
  }
  napi_close_handle_scope(env, scope);
}

static void read_batches(batch_socket *s) {
  struct read_area *a = s->area;
  for (int round = 0; round < BATCHES_PER_EVENT && s->fd >= 0; round++) {
    for (int i = 0; i < SLOTS; i++) {
      a->iov[i].iov_base = a->scratch + (size_t)i * SLOT_BYTES;
      a->iov[i].iov_len = SLOT_BYTES;
      memset(&a->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
      a->msgs[i].msg_hdr.msg_iov = &a->iov[i];
      a->msgs[i].msg_hdr.msg_iovlen = 1;
      a->msgs[i].msg_hdr.msg_name = &a->from[i];
      a->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
    int n = recvmmsg(s->fd, a->msgs, SLOTS, MSG_DONTWAIT, NULL);
    if (n <= 0) return; // EAGAIN, or an error a datagram socket may ignore (the next read goes on)
    size_t total = 0;
    for (int i = 0; i < n; i++) total += a->msgs[i].msg_len;
    napi_handle_scope scope;
    if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
    // One fresh ArrayBuffer per batch, the datagrams end to end: a listener may keep its bytes,
    // as it may keep a dgram Buffer.
    void *bytes;
    napi_value argv[2];
    if (napi_create_arraybuffer(s->env, total == 0 ? 1 : total, &bytes, &argv[0]) != napi_ok) {
      napi_close_handle_scope(s->env, scope);
      return;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
      unsigned len = a->msgs[i].msg_len;
      memcpy((uint8_t *)bytes + at, a->iov[i].iov_base, len);
      s->meta[i * 4] = (int32_t)at;
      s->meta[i * 4 + 1] = (int32_t)len;
      s->meta[i * 4 + 2] = (int32_t)ntohl(a->from[i].sin_addr.s_addr);
      s->meta[i * 4 + 3] = ntohs(a->from[i].sin_port);
      at += len;
    }
    s->meta[SLOTS * 4] = n;
    // One callback per datagram, each in its own callback scope, as node:dgram calls: the
    // process.nextTick callbacks and microtasks one datagram causes run before the next datagram
    // arrives (a promise resolved by a handshake packet settles before a reset behind it).
    for (int i = 0; i < n && s->fd >= 0; i++) {
      napi_create_int32(s->env, i, &argv[1]);
      call_js(s, s->on_datagram, 2, argv);
    }
    napi_close_handle_scope(s->env, scope);
    if (n < SLOTS) return;
  }
}

static void update_poll(batch_socket *s, int events);

static void on_poll(uv_poll_t *handle, int status, int events) {
  batch_socket *s = handle->data;
  if (s->fd < 0) return;
  if (status < 0) events = s->events; // an error on the socket: let the reads and sends find it
  if (events & UV_WRITABLE) {
    update_poll(s, s->events & ~UV_WRITABLE);
    call_js(s, s->on_writable, 0, NULL);
  }
  if ((events & UV_READABLE) && s->fd >= 0) read_batches(s);
}

static void update_poll(batch_socket *s, int events) {
  if (s->fd < 0 || events == s->events) return;
  s->events = events;
  if (events == 0) uv_poll_stop(&s->poll);
  else uv_poll_start(&s->poll, events, on_poll);
}

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

static batch_socket *unwrap(napi_env env, napi_value value) {
  batch_socket *s = NULL;
  if (napi_get_value_external(env, value, (void **)&s) != napi_ok || s == NULL || s->fd < 0) {
    napi_throw_error(env, NULL, "socket is closed");
    return NULL;
  }
  return s;
}

// The arguments of a call whose first argument is a socket handle, and that socket (NULL: thrown).
static batch_socket *socket_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "too few arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

static int parse_ipv4(napi_env env, napi_value value, struct in_addr *out) {
  char host[64];
  size_t len;
  if (napi_get_value_string_utf8(env, value, host, sizeof host, &len) != napi_ok) return 0;
  return inet_pton(AF_INET, host, out) == 1;
}

// open(host, port, recvBufferBytes, sendBufferBytes, meta: Int32Array(SLOTS*4+1), onDatagram, onWritable)
//   -> handle; throws on a bad address or a failed bind.
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "open: 7 arguments");
    return NULL;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  if (!parse_ipv4(env, argv[0], &addr.sin_addr)) {
    napi_throw_type_error(env, NULL, "open: not an IPv4 address");
    return NULL;
  }
  int32_t port, rcvbuf, sndbuf;
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &rcvbuf));
  CHECK(napi_get_value_int32(env, argv[3], &sndbuf));
  addr.sin_port = htons((uint16_t)port);

  napi_typedarray_type type;
  size_t meta_len;
  void *meta;
  napi_value meta_buffer;
  size_t meta_offset;
  if (napi_get_typedarray_info(env, argv[4], &type, &meta_len, &meta, &meta_buffer, &meta_offset) !=
          napi_ok ||
      type != napi_int32_array || meta_len < SLOTS * 4 + 1) {
    napi_throw_type_error(env, NULL, "open: meta must be an Int32Array of 257");
    return NULL;
  }

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }

  struct read_area *area = NULL;
  napi_get_instance_data(env, (void **)&area);
  if (area != NULL && area->scratch == NULL) area->scratch = malloc((size_t)SLOTS * SLOT_BYTES);
  batch_socket *s = calloc(1, sizeof(batch_socket));
  if (s == NULL || area == NULL || area->scratch == NULL) {
    free(s);
    close(fd);
    return throw_errno(env, "open", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->area = area;
  s->meta = meta;
  napi_create_reference(env, argv[4], 1, &s->meta_ref);
  napi_create_reference(env, argv[5], 1, &s->on_datagram);
  napi_create_reference(env, argv[6], 1, &s->on_writable);
  napi_value name, resource;
  napi_create_string_utf8(env, "UDPBATCH", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &s->resource);
  napi_async_init(env, NULL, name, &s->async);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  update_poll(s, UV_READABLE);

  napi_value handle;
  CHECK(napi_create_external(env, s, NULL, NULL, &handle));
  return handle;
}

// send(handle, bytes: Uint8Array, meta: Int32Array [offset, length, ip, port]*, count)
//   -> datagrams sent from the front (>= 0), or -errno for the first one that failed.
static napi_value send_batch(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  batch_socket *s = socket_args(env, info, 4, argv);
  if (s == NULL) return NULL;
  napi_typedarray_type type;
  size_t bytes_len, meta_len, offset;
  void *bytes, *meta;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &bytes_len, &bytes, &ab, &offset));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "send: bytes must be a Uint8Array");
    return NULL;
  }
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &meta_len, &meta, &ab, &offset));
  if (type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "send: meta must be an Int32Array");
    return NULL;
  }
  int32_t count;
  CHECK(napi_get_value_int32(env, argv[3], &count));
  if (count > SLOTS) count = SLOTS;
  if (count < 0 || (size_t)count * 4 > meta_len) count = 0;
  struct mmsghdr msgs[SLOTS];
  struct iovec iov[SLOTS];
  struct sockaddr_in to[SLOTS];
  const int32_t *m = meta;
  for (int i = 0; i < count; i++) {
    size_t at = (uint32_t)m[i * 4], len = (uint32_t)m[i * 4 + 1];
    if (at > bytes_len || len > bytes_len - at) {
      napi_throw_range_error(env, NULL, "send: datagram outside the buffer");
      return NULL;
    }
    iov[i].iov_base = (uint8_t *)bytes + at;
    iov[i].iov_len = len;
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_addr.s_addr = htonl((uint32_t)m[i * 4 + 2]);
    to[i].sin_port = htons((uint16_t)m[i * 4 + 3]);
    memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof to[i];
  }
  int sent = 0;
  if (count > 0) {
    do sent = sendmmsg(s->fd, msgs, (unsigned)count, MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) sent = -errno;
  }
  napi_value out;
  CHECK(napi_create_int32(env, sent, &out));
  return out;
}

// awaitWritable(handle): calls onWritable once the socket can take datagrams again.
static napi_value await_writable(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  batch_socket *s = socket_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  update_poll(s, s->events | UV_WRITABLE);
  return NULL;
}

// setTtl(handle, ttl)
static napi_value set_ttl(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  batch_socket *s = socket_args(env, info, 2, argv);
  if (s == NULL) return NULL;
  int32_t ttl;
  CHECK(napi_get_value_int32(env, argv[1], &ttl));
  if (setsockopt(s->fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0) return throw_errno(env, "setTTL", errno);
  return NULL;
}

// info(handle) -> [port, recvBufferBytes, sendBufferBytes] (the kernel's grants)
static napi_value socket_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  batch_socket *s = socket_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (getsockname(s->fd, (struct sockaddr *)&addr, &len) < 0) return throw_errno(env, "getsockname", errno);
  int rcv = 0, snd = 0;
  socklen_t olen = sizeof rcv;
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &olen);
  olen = sizeof snd;
  getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, &olen);
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 3, &out));
  napi_create_int32(env, ntohs(addr.sin_port), &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, rcv, &v);
  napi_set_element(env, out, 1, v);
  napi_create_int32(env, snd, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

// close(handle): stops polling, closes the descriptor; the memory goes once libuv lets go.
static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  batch_socket *s = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL || s->fd < 0) return NULL;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  napi_delete_reference(env, s->on_datagram);
  napi_delete_reference(env, s->on_writable);
  napi_delete_reference(env, s->meta_ref);
  napi_delete_reference(env, s->resource);
  napi_async_destroy(env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

static void free_read_area(napi_env env, void *data, void *hint) {
  struct read_area *area = data;
  free(area->scratch);
  free(area);
}

NAPI_MODULE_INIT() {
  struct read_area *area = calloc(1, sizeof(struct read_area));
  if (area != NULL) napi_set_instance_data(env, area, free_read_area, NULL);
  export_fn(env, exports, "open", open_socket);
  export_fn(env, exports, "send", send_batch);
  export_fn(env, exports, "awaitWritable", await_writable);
  export_fn(env, exports, "setTtl", set_ttl);
  export_fn(env, exports, "info", socket_info);
  export_fn(env, exports, "close", close_socket);
  napi_value slots;
  napi_create_int32(env, SLOTS, &slots);
  napi_set_named_property(env, exports, "slots", slots);
  return exports;
}
