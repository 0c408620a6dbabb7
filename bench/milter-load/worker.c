/*
 * milter-load: one worker process. An epoll loop over its connections, each running sessions the
 * way Postfix 3.7 does: OPTNEG, then [macros] CONNECT, HELO, MAIL, RCPT x n, optionally DATA,
 * headers, EOH, body and end of message, then ABORT and QUIT, on a new milter connection per
 * session. It follows the negotiation: a stage the milter negotiated away is not sent (its macro
 * packet still is, as Postfix does), and a stage under a no-reply flag is not waited for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "milter-load.h"

const char *const STAGE_NAMES[ST_COUNT] = {"optneg", "connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom", "session"};
const char *const ERROR_NAMES[ERR_COUNT] = {"connect", "timeout", "eof", "protocol", "io"};

/* What Postfix 3.7 offers with milter_protocol = 6: version 6, every action, every v6 protocol bit. */
#define OFFER_VERSION 6
#define OFFER_ACTIONS 0x1FF
#define OFFER_PROTOCOL 0x1FFFFF

enum step { STEP_CONNECT, STEP_HELO, STEP_MAIL, STEP_RCPT, STEP_DATA, STEP_HEADER, STEP_EOH, STEP_BODY, STEP_EOM, STEP_ABORT, STEP_QUIT };

/* Per step: command byte, SMFIP_NO* flag that suppresses it, SMFIP_NR_* flag that drops its reply, timed stage. */
static const struct { char cmd; uint32_t no, nr; enum stage stage; int macros_when_skipped; } STEPS[] = {
  [STEP_CONNECT] = {'C', 0x1, 0x1000, ST_CONNECT, 1},
  [STEP_HELO] = {'H', 0x2, 0x2000, ST_HELO, 1},
  [STEP_MAIL] = {'M', 0x4, 0x4000, ST_MAIL, 1},
  [STEP_RCPT] = {'R', 0x8, 0x8000, ST_RCPT, 1},
  [STEP_DATA] = {'T', 0x200, 0x10000, ST_DATA, 1},
  [STEP_HEADER] = {'L', 0x20, 0x80, ST_HEADER, 0},
  [STEP_EOH] = {'N', 0x40, 0x40000, ST_EOH, 0},
  [STEP_BODY] = {'B', 0x10, 0x80000, ST_BODY, 0},
  [STEP_EOM] = {'E', 0, 0, ST_EOM, 1},
};

enum conn_state { CS_FREE, CS_CONNECTING, CS_NEGOTIATING, CS_RUNNING, CS_QUITTING, CS_IDLE };

/* Room for one body packet of the largest size (65535 bytes) and its macro packet. */
#define BODY_CHUNK_MAX 65535
#define OUT_SIZE (BODY_CHUNK_MAX + 8192)
#define IN_SIZE 8192
/* The synthetic body (without --message-file) is at most this long. */
#define SYNTH_BODY_MAX 8192

struct conn {
  int fd;
  enum conn_state state;
  uint64_t session;     /* global session number: picks the client address, sender and recipients */
  enum step step;
  int rcpt_index, rcpts_accepted, header_index;
  uint32_t protocol;
  const struct message_file *msg; /* --message-file: what this session sends */
  size_t body_off;      /* bytes of msg's body sent so far */
  int blocked;          /* the next step did not fit the output buffer: resumed once it has drained */
  int awaiting;         /* stage whose final reply is due, or -1 */
  uint64_t sent_ns, started_ns, deadline_ns;
  size_t in_len, out_len, out_off;
  unsigned char in[IN_SIZE];
  unsigned char out[OUT_SIZE];
  uint64_t retry_ns;    /* after a failed connect the slot rests, so a milter that is down is not hammered */
};

struct worker {
  const struct options *opt;
  int id, epfd, count;
  struct conn *conns;
  uint64_t next_session, warm_ns, end_ns, next_due_ns, interval_ns;
  struct worker_result *res;
};

static const char *HEADER_NAMES[] = {"Received", "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"};
#define HEADER_KINDS (int)(sizeof HEADER_NAMES / sizeof HEADER_NAMES[0])

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int in_window(const struct worker *w, uint64_t t) { return t >= w->warm_ns && t < w->end_ns; }

/* ---- the session's envelope, derived from its number ---- */

/* An odd multiplier is a bijection modulo 2^22: distinct pool indexes get distinct addresses, spread over every /24 of the /10. */
static uint32_t client_ip(const struct options *opt, uint64_t session) {
  uint32_t index = (uint32_t)(session % opt->ip_pool);
  return opt->ip_base + ((index * 2654435761u) & 0x3FFFFFu);
}

static void ip_text(uint32_t ip, char *buf, size_t size) {
  snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* ---- writing packets ---- */

static int put(struct conn *c, char cmd, const void *data, size_t len) {
  if (c->out_len + 5 + len > OUT_SIZE) return -1;
  uint32_t n = htonl((uint32_t)(len + 1));
  memcpy(c->out + c->out_len, &n, 4);
  c->out[c->out_len + 4] = (unsigned char)cmd;
  if (len) memcpy(c->out + c->out_len + 5, data, len);
  c->out_len += 5 + len;
  return 0;
}

/*
 * A string array: each argument NUL-terminated, the list ended by NULL. For a macro packet ('D')
 * the first argument is the one-byte command the macros belong to, which carries no NUL.
 */
static int put_strings(struct conn *c, char cmd, ...) {
  char buf[2048];
  size_t len = 0;
  va_list ap;
  va_start(ap, cmd);
  if (cmd == 'D') buf[len++] = *va_arg(ap, const char *);
  for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
    size_t n = strlen(s) + 1;
    if (len + n > sizeof buf) { va_end(ap); return -1; }
    memcpy(buf + len, s, n);
    len += n;
  }
  va_end(ap);
  return put(c, cmd, buf, len);
}

static void queue_id(const struct conn *c, char *buf, size_t size) {
  snprintf(buf, size, "4Zb%09llX", (unsigned long long)(c->session & 0xFFFFFFFFFULL));
}

static int put_macros(struct worker *w, struct conn *c, enum step step) {
  const struct options *opt = w->opt;
  char qid[32], ip[32], a[256], b[256];
  queue_id(c, qid, sizeof qid);
  switch (step) {
    case STEP_CONNECT: {
      uint32_t addr = client_ip(opt, c->session);
      ip_text(addr, ip, sizeof ip);
      if (c->session & 1) snprintf(a, sizeof a, "host-%u-%u-%u-%u.dyn.isp.example [%s]", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255, ip);
      else snprintf(a, sizeof a, "unknown [%s]", ip);
      return put_strings(c, 'D', "C", "j", "mx.isp.example", "{daemon_name}", "mx.isp.example", "{daemon_addr}", "192.0.2.25", "v", "Postfix 3.7.11", "_", a, NULL);
    }
    case STEP_HELO: return put_strings(c, 'D', "H", NULL);
    case STEP_MAIL:
      snprintf(a, sizeof a, "user%llu@customer%llu.example", (unsigned long long)(c->session % opt->sender_pool), (unsigned long long)(c->session % opt->sender_pool % 50021));
      return put_strings(c, 'D', "M", "{mail_addr}", a, NULL);
    case STEP_RCPT: {
      uint64_t r = ((c->session * (uint64_t)opt->rcpts + (uint64_t)c->rcpt_index) * 7919u) % opt->rcpt_pool;
      snprintf(a, sizeof a, "rcpt%llu@dest%llu.example", (unsigned long long)r, (unsigned long long)(r % 1009));
      snprintf(b, sizeof b, "dest%llu.example", (unsigned long long)(r % 1009));
      return put_strings(c, 'D', "R", "i", qid, "{rcpt_addr}", a, "{rcpt_host}", b, "{rcpt_mailer}", "smtp", NULL);
    }
    case STEP_DATA: return put_strings(c, 'D', "T", "i", qid, NULL);
    case STEP_HEADER: return put_strings(c, 'D', "L", "i", qid, NULL);
    case STEP_EOH: return put_strings(c, 'D', "N", "i", qid, NULL);
    case STEP_BODY: return put_strings(c, 'D', "B", "i", qid, NULL);
    case STEP_EOM: return put_strings(c, 'D', "E", "i", qid, NULL);
    default: return 0;
  }
}

static int put_command(struct worker *w, struct conn *c, enum step step) {
  const struct options *opt = w->opt;
  char a[512], b[512];
  switch (step) {
    case STEP_CONNECT: {
      uint32_t addr = client_ip(opt, c->session);
      char ip[32], host[128], buf[256];
      ip_text(addr, ip, sizeof ip);
      if (c->session & 1) snprintf(host, sizeof host, "host-%u-%u-%u-%u.dyn.isp.example", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
      else snprintf(host, sizeof host, "[%s]", ip);
      size_t hl = strlen(host) + 1, il = strlen(ip) + 1;
      uint16_t port = htons((uint16_t)(1024 + c->session % 60000));
      memcpy(buf, host, hl);
      buf[hl] = '4';
      memcpy(buf + hl + 1, &port, 2);
      memcpy(buf + hl + 3, ip, il);
      return put(c, 'C', buf, hl + 3 + il);
    }
    case STEP_HELO:
      snprintf(a, sizeof a, "pc-%llu.customer.example", (unsigned long long)(c->session % opt->ip_pool));
      return put_strings(c, 'H', a, NULL);
    case STEP_MAIL:
      snprintf(a, sizeof a, "<user%llu@customer%llu.example>", (unsigned long long)(c->session % opt->sender_pool), (unsigned long long)(c->session % opt->sender_pool % 50021));
      if (c->msg) snprintf(b, sizeof b, "SIZE=%zu", c->msg->size);
      else snprintf(b, sizeof b, "SIZE=%d", opt->body_bytes + 600);
      return put_strings(c, 'M', a, b, "BODY=8BITMIME", NULL);
    case STEP_RCPT: {
      uint64_t r = ((c->session * (uint64_t)opt->rcpts + (uint64_t)c->rcpt_index) * 7919u) % opt->rcpt_pool;
      snprintf(a, sizeof a, "<rcpt%llu@dest%llu.example>", (unsigned long long)r, (unsigned long long)(r % 1009));
      return put_strings(c, 'R', a, NULL);
    }
    case STEP_DATA: return put(c, 'T', NULL, 0);
    case STEP_HEADER: {
      if (c->msg) {
        const struct header_field *h = &c->msg->headers[c->header_index];
        size_t len = h->name_len + h->value_len + 2;
        if (len > OUT_SIZE - 64) return -1;
        unsigned char packet[OUT_SIZE];
        memcpy(packet, h->name, h->name_len);
        packet[h->name_len] = 0;
        memcpy(packet + h->name_len + 1, h->value, h->value_len);
        packet[len - 1] = 0;
        return put(c, 'L', packet, len);
      }
      const char *name = HEADER_NAMES[c->header_index % HEADER_KINDS];
      snprintf(b, sizeof b, " value of %s header number %d of message %llu", name, c->header_index, (unsigned long long)c->session);
      return put_strings(c, 'L', name, b, NULL);
    }
    case STEP_EOH: return put(c, 'N', NULL, 0);
    case STEP_BODY: {
      if (c->msg) {
        size_t left = c->msg->body_len - c->body_off, n = left < BODY_CHUNK_MAX ? left : BODY_CHUNK_MAX;
        if (put(c, 'B', c->msg->body + c->body_off, n) < 0) return -1;
        c->body_off += n;
        return 0;
      }
      static char body[SYNTH_BODY_MAX];
      static int filled;
      if (!filled) {
        for (int i = 0; i < (int)sizeof body; i++) body[i] = (i % 72 == 70) ? '\r' : (i % 72 == 71) ? '\n' : (char)('a' + i % 26);
        filled = 1;
      }
      size_t n = (size_t)opt->body_bytes < sizeof body ? (size_t)opt->body_bytes : sizeof body;
      return put(c, 'B', body, n);
    }
    case STEP_EOM: return put(c, 'E', NULL, 0);
    case STEP_ABORT: return put(c, 'A', NULL, 0);
    case STEP_QUIT: return put(c, 'Q', NULL, 0);
  }
  return -1;
}

/* ---- connection life cycle ---- */

static void close_conn(struct worker *w, struct conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = CS_FREE;
  c->awaiting = -1;
}

static void fail(struct worker *w, struct conn *c, enum error_kind kind) {
  uint64_t t = now_ns();
  if (in_window(w, t)) w->res->errors[kind]++;
  if (kind == ERR_CONNECT) c->retry_ns = t + 10000000ULL;
  close_conn(w, c);
}

/* The session is over (the milter closed after QUIT, or Postfix would drop the socket here). */
static void finish(struct worker *w, struct conn *c) {
  uint64_t t = now_ns();
  if (in_window(w, t)) {
    w->res->sessions++;
    hist_record(&w->res->hist[ST_SESSION], (t - c->started_ns) / 1000);
  }
  close_conn(w, c);
}

static int flush_out(struct worker *w, struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n > 0) { c->out_off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
      epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
      return 0;
    }
    return -1;
  }
  c->out_len = c->out_off = 0;
  return 0;
}

static int start_session(struct worker *w, struct conn *c) {
  const struct options *opt = w->opt;
  int fd = socket(opt->target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { fail(w, c, ERR_CONNECT); return -1; }
  if (opt->target.family == AF_INET) {
    int one = 1;
    /* Postfix's milter client writes each event and waits for the answer: no Nagle coalescing here. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  memset(c, 0, offsetof(struct conn, in));
  c->fd = fd;
  c->awaiting = -1;
  c->session = opt->first_session + w->next_session++ * (uint64_t)opt->processes + (uint64_t)w->id;
  c->msg = opt->file_count > 0 ? &opt->files[c->session % (uint64_t)opt->file_count] : NULL;
  c->started_ns = now_ns();
  c->deadline_ns = c->started_ns + (uint64_t)opt->timeout_ms * 1000000ULL;
  w->res->sessions_started++;
  int r = connect(fd, (const struct sockaddr *)&opt->target.addr, opt->target.addr_len);
  if (r < 0 && errno != EINPROGRESS && errno != EAGAIN) {
    close(fd);
    c->fd = -1;
    fail(w, c, ERR_CONNECT);
    return -1;
  }
  c->state = CS_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static void send_optneg(struct worker *w, struct conn *c) {
  uint32_t offer[3] = {htonl(OFFER_VERSION), htonl(OFFER_ACTIONS), htonl(OFFER_PROTOCOL)};
  put(c, 'O', offer, sizeof offer);
  c->state = CS_NEGOTIATING;
  c->awaiting = ST_OPTNEG;
  c->sent_ns = now_ns();
  c->deadline_ns = c->sent_ns + (uint64_t)w->opt->timeout_ms * 1000000ULL;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  if (flush_out(w, c) < 0) fail(w, c, ERR_IO);
}

static int header_count(const struct options *opt, const struct conn *c) { return c->msg ? c->msg->header_count : opt->headers; }
static int body_left(const struct options *opt, const struct conn *c) { return c->msg ? c->body_off < c->msg->body_len : opt->body_bytes > 0; }

/*
 * Whether `need` more bytes fit the output buffer, after writing out what the socket takes now. When
 * they do not (the milter reads slower than we write: a body under a no-reply flag), the connection
 * waits for EPOLLOUT and drive() resumes at the same step.
 */
static int room_for(struct worker *w, struct conn *c, size_t need) {
  if (c->out_len + need <= OUT_SIZE) return 1;
  if (flush_out(w, c) < 0) return -1;
  if (c->out_off > 0) {
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  if (c->out_len + need <= OUT_SIZE) return 1;
  c->blocked = 1;
  c->deadline_ns = now_ns() + (uint64_t)w->opt->timeout_ms * 1000000ULL; /* the milter has that long to read on */
  return 0;
}

/* Output bytes a step can take at most: its macro packet and its command. */
static size_t step_bytes(const struct conn *c, enum step s) {
  if (c->msg && s == STEP_BODY) return 1024 + BODY_CHUNK_MAX;
  if (c->msg && s == STEP_HEADER) return 1024 + c->msg->headers[c->header_index].name_len + c->msg->headers[c->header_index].value_len;
  return 4096;
}

/* The step after `step` in an ordinary session. */
static enum step next_step(const struct options *opt, const struct conn *c, enum step step) {
  switch (step) {
    case STEP_CONNECT: return STEP_HELO;
    case STEP_HELO: return STEP_MAIL;
    case STEP_MAIL: return STEP_RCPT;
    case STEP_RCPT:
      if (c->rcpt_index + 1 < opt->rcpts) return STEP_RCPT;
      /* Postfix goes on to DATA only when a recipient was accepted. */
      return opt->full_message && c->rcpts_accepted > 0 ? STEP_DATA : STEP_ABORT;
    case STEP_DATA: return header_count(opt, c) > 0 ? STEP_HEADER : STEP_EOH;
    case STEP_HEADER: return c->header_index + 1 < header_count(opt, c) ? STEP_HEADER : STEP_EOH;
    case STEP_EOH: return body_left(opt, c) ? STEP_BODY : STEP_EOM;
    /* A message file's body goes in chunks until it is all sent, unless the milter negotiated the body away. */
    case STEP_BODY: return c->msg && body_left(opt, c) && !(c->protocol & STEPS[STEP_BODY].no) ? STEP_BODY : STEP_EOM;
    case STEP_EOM: return STEP_ABORT;
    case STEP_ABORT: return STEP_QUIT;
    default: return STEP_QUIT;
  }
}

static void advance(const struct options *opt, struct conn *c, enum step to) {
  if (to == STEP_RCPT && c->step == STEP_RCPT) c->rcpt_index++;
  if (to == STEP_HEADER && c->step == STEP_HEADER) c->header_index++;
  (void)opt;
  c->step = to;
}

/* Writes commands until one needs an answer (or QUIT is sent); then waits for it. */
static void drive(struct worker *w, struct conn *c) {
  const struct options *opt = w->opt;
  for (;;) {
    enum step s = c->step;
    if (opt->idle && s == STEP_MAIL) {
      /* Idle mode: the session opened as a real one (CONNECT, HELO answered), then silence until the end. */
      c->state = CS_IDLE;
      if (flush_out(w, c) < 0) { fail(w, c, ERR_IO); return; }
      w->res->idle_established++;
      return;
    }
    if (s == STEP_ABORT || s == STEP_QUIT) {
      if (put_command(w, c, s) < 0) { fail(w, c, ERR_PROTOCOL); return; }
      if (s == STEP_QUIT) {
        /* Wait for the milter to close first: the TIME_WAIT stays on its side, not on our ports. */
        c->state = CS_QUITTING;
        c->deadline_ns = now_ns() + 2000000000ULL;
        if (flush_out(w, c) < 0) finish(w, c);
        return;
      }
      advance(opt, c, STEP_QUIT);
      continue;
    }
    int skipped = (c->protocol & STEPS[s].no) != 0;
    int fits = room_for(w, c, step_bytes(c, s));
    if (fits < 0) { fail(w, c, ERR_IO); return; }
    if (!fits) return; /* on_event drives on once the buffer has drained */
    if (!skipped || STEPS[s].macros_when_skipped) {
      if (put_macros(w, c, s) < 0) { fail(w, c, ERR_PROTOCOL); return; }
    }
    int wait = !skipped && (c->protocol & STEPS[s].nr) == 0;
    if (!skipped && put_command(w, c, s) < 0) { fail(w, c, ERR_PROTOCOL); return; }
    if (s == STEP_RCPT && (skipped || !wait)) c->rcpts_accepted++;
    if (wait) {
      c->awaiting = STEPS[s].stage;
      c->sent_ns = now_ns();
      c->deadline_ns = c->sent_ns + (uint64_t)opt->timeout_ms * 1000000ULL;
      if (flush_out(w, c) < 0) fail(w, c, ERR_IO);
      return;
    }
    advance(opt, c, next_step(opt, c, s));
  }
}

/* One final reply for the stage we were waiting for. */
static void on_decision(struct worker *w, struct conn *c, unsigned char code) {
  const struct options *opt = w->opt;
  uint64_t t = now_ns();
  int stage = c->awaiting;
  if (in_window(w, t)) {
    hist_record(&w->res->hist[stage], (t - c->sent_ns) / 1000);
    w->res->verdicts[stage][code]++;
  }
  c->awaiting = -1;
  enum step s = c->step;
  if (code == '4') { finish(w, c); return; } /* shutdown: Postfix answers 421 and hangs up */
  if (s == STEP_CONNECT || s == STEP_HELO) {
    /* Accept, reject, tempfail or a reply code here settle the whole SMTP session: Postfix drops the milter socket without QUIT. */
    if (code != 'c') { finish(w, c); return; }
    advance(opt, c, next_step(opt, c, s));
  } else if (s == STEP_RCPT) {
    if (code == 'c') c->rcpts_accepted++;
    if (code == 'a' || code == 'd') advance(opt, c, STEP_ABORT);       /* whole message accepted or dropped */
    else advance(opt, c, next_step(opt, c, s));                         /* r t y refuse this recipient only */
  } else if (s == STEP_BODY && code == 's') {
    advance(opt, c, STEP_EOM);
  } else if (code == 'c' && s != STEP_EOM) {
    advance(opt, c, next_step(opt, c, s));
  } else {
    advance(opt, c, STEP_ABORT); /* the message is settled (accepted, refused, dropped) or EOM answered */
  }
  drive(w, c);
}

static int is_modification(unsigned char code) { return strchr("+-2behimq", code) != NULL && code != 0; }

static void on_frame(struct worker *w, struct conn *c, unsigned char code, const unsigned char *data, size_t len) {
  if (c->state == CS_NEGOTIATING) {
    if (code != 'O' || len < 12) { fail(w, c, ERR_PROTOCOL); return; }
    uint32_t v[3];
    memcpy(v, data, 12);
    c->protocol = ntohl(v[2]);
    w->res->version = ntohl(v[0]);
    w->res->actions = ntohl(v[1]);
    w->res->protocol = c->protocol;
    w->res->negotiated = 1;
    uint64_t t = now_ns();
    if (in_window(w, t)) hist_record(&w->res->hist[ST_OPTNEG], (t - c->sent_ns) / 1000);
    c->awaiting = -1;
    c->state = CS_RUNNING;
    c->step = STEP_CONNECT;
    drive(w, c);
    return;
  }
  if (c->state != CS_RUNNING || c->awaiting < 0) { fail(w, c, ERR_PROTOCOL); return; } /* a reply nobody asked for */
  if (code == 'p') return; /* progress: keep waiting */
  if (code == 'y' && c->awaiting >= 0 && w->res->reply_text[c->awaiting][0] == 0) {
    char *text = w->res->reply_text[c->awaiting];
    size_t n = len < sizeof w->res->reply_text[0] - 1 ? len : sizeof w->res->reply_text[0] - 1;
    for (size_t i = 0; i < n; i++) text[i] = (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\') ? (char)data[i] : ' ';
    text[n] = 0;
  }
  if (is_modification(code)) {
    if (c->awaiting != ST_EOM) { fail(w, c, ERR_PROTOCOL); return; }
    if (in_window(w, now_ns())) w->res->modifications++;
    return;
  }
  on_decision(w, c, code);
}

static void on_readable(struct worker *w, struct conn *c) {
  for (;;) {
    ssize_t n = read(c->fd, c->in + c->in_len, IN_SIZE - c->in_len);
    if (n == 0) {
      if (c->state == CS_QUITTING) finish(w, c);
      else if (c->state == CS_IDLE) fail(w, c, ERR_EOF);
      else fail(w, c, ERR_EOF);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (c->state == CS_QUITTING) finish(w, c); else fail(w, c, ERR_IO);
      return;
    }
    c->in_len += (size_t)n;
    size_t at = 0;
    while (c->in_len - at >= 4) {
      uint32_t len;
      memcpy(&len, c->in + at, 4);
      len = ntohl(len);
      if (len == 0 || len > IN_SIZE - 4) { fail(w, c, ERR_PROTOCOL); return; }
      if (c->in_len - at < 4 + len) break;
      int fd = c->fd;
      on_frame(w, c, c->in[at + 4], c->in + at + 5, len - 1);
      at += 4 + len;
      if (c->fd != fd || c->state == CS_FREE) return; /* closed, or a new session took the slot */
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
  }
}

static void on_event(struct worker *w, struct conn *c, uint32_t events) {
  if (c->state == CS_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) { fail(w, c, ERR_CONNECT); return; }
    send_optneg(w, c);
    return;
  }
  if (events & EPOLLOUT) {
    if (flush_out(w, c) < 0) { fail(w, c, ERR_IO); return; }
    if (c->out_len == 0 && c->fd >= 0) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
      if (c->blocked) {
        c->blocked = 0;
        drive(w, c);
      }
    }
  }
  if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(w, c);
}

static void check_deadlines(struct worker *w, uint64_t t) {
  for (int i = 0; i < w->count; i++) {
    struct conn *c = &w->conns[i];
    if (c->state == CS_FREE || c->state == CS_IDLE) continue;
    if (t < c->deadline_ns) continue;
    if (c->state == CS_QUITTING) finish(w, c); /* the milter never closed: count the session, close ourselves */
    else fail(w, c, ERR_TIMEOUT);
  }
}

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

void run_worker(const struct options *opt, int id, int count, uint64_t t0_ns, struct worker_result *res) {
  struct worker w = {.opt = opt, .id = id, .count = count, .res = res};
  w.conns = calloc((size_t)count, sizeof *w.conns);
  w.epfd = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < count; i++) { w.conns[i].fd = -1; w.conns[i].state = CS_FREE; }
  w.warm_ns = t0_ns + (uint64_t)(opt->warmup_s * 1e9);
  w.end_ns = w.warm_ns + (uint64_t)(opt->duration_s * 1e9);
  double per_worker_rate = opt->rate / opt->processes;
  w.interval_ns = per_worker_rate > 0 ? (uint64_t)(1e9 / per_worker_rate) : 0;
  while (now_ns() < t0_ns) usleep(1000);
  w.next_due_ns = t0_ns + (w.interval_ns * (uint64_t)id) / (uint64_t)opt->processes;

  struct rusage ru_warm = {0}, ru_end;
  int warm_taken = 0, idle_started = 0;
  uint64_t last_check = now_ns();
  struct epoll_event events[256];
  for (;;) {
    uint64_t t = now_ns();
    if (!warm_taken && t >= w.warm_ns) { getrusage(RUSAGE_SELF, &ru_warm); warm_taken = 1; }
    if (t >= w.end_ns) break;
    /* Start sessions in free slots: all of them at once (closed loop, idle mode), or as they fall due (rate). */
    if (!(opt->idle && idle_started)) {
      for (int i = 0; i < count; i++) {
        struct conn *c = &w.conns[i];
        if (c->state != CS_FREE || t < c->retry_ns) continue;
        if (w.interval_ns) {
          if (t < w.next_due_ns) break;
          w.next_due_ns += w.interval_ns;
        }
        start_session(&w, c);
      }
      if (w.interval_ns && t >= w.next_due_ns + w.interval_ns) {
        /* Due but no free connection: the milter is behind; count it and do not build a backlog. */
        res->late_starts++;
        w.next_due_ns = t;
      }
      if (opt->idle) idle_started = 1;
    }
    int timeout_ms = 50;
    if (w.interval_ns) {
      /* Sleep until the next session falls due, rounded up: never spin, since every cycle spent here
         is taken from the milter. Due already means no connection was free: wait for one (1 ms). */
      int64_t until_ns = (int64_t)(w.next_due_ns - now_ns());
      int64_t until_ms = until_ns <= 0 ? 1 : (until_ns + 999999) / 1000000;
      if (until_ms < timeout_ms) timeout_ms = (int)until_ms;
    }
    int n = epoll_wait(w.epfd, events, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (c->fd >= 0) on_event(&w, c, events[i].events);
    }
    t = now_ns();
    if (t - last_check > 100000000ULL) { check_deadlines(&w, t); last_check = t; }
  }
  getrusage(RUSAGE_SELF, &ru_end);
  res->cpu_user_s = seconds(ru_end.ru_utime) - seconds(ru_warm.ru_utime);
  res->cpu_sys_s = seconds(ru_end.ru_stime) - seconds(ru_warm.ru_stime);
  for (int i = 0; i < count; i++) {
    struct conn *c = &w.conns[i];
    if (c->fd < 0) continue;
    if (c->state == CS_IDLE) {
      /* End idle sessions properly so the milter logs nothing odd. */
      c->out_len = c->out_off = 0;
      put(c, 'A', NULL, 0);
      put(c, 'Q', NULL, 0);
      (void)!write(c->fd, c->out, c->out_len);
    }
    close_conn(&w, c);
  }
  close(w.epfd);
  free(w.conns);
}
