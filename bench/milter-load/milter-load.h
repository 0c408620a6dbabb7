/* milter-load: shared types of the milter-protocol load generator (plays Postfix against a milter). */
#ifndef MILTER_LOAD_H
#define MILTER_LOAD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

/* Stages timed from the write of a command to its final reply; SESSION is connect() to the milter's EOF. */
enum stage { ST_OPTNEG, ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_HEADER, ST_EOH, ST_BODY, ST_EOM, ST_SESSION, ST_COUNT };
extern const char *const STAGE_NAMES[ST_COUNT];

enum error_kind { ERR_CONNECT, ERR_TIMEOUT, ERR_EOF, ERR_PROTOCOL, ERR_IO, ERR_COUNT };
extern const char *const ERROR_NAMES[ERR_COUNT];

/*
 * Log-linear histogram of microseconds: exact below 1024 us, then 512 sub-buckets per power of two
 * (0.2 % resolution), up to 2^36 us. Fixed size, so workers fill it in shared memory and the
 * parent adds them up without any serialisation.
 */
#define HIST_EXACT 1024
#define HIST_SUB 512
#define HIST_BUCKETS (HIST_EXACT + 26 * HIST_SUB)

struct hist {
  uint64_t count, sum_us, max_us;
  uint64_t buckets[HIST_BUCKETS];
};

void hist_record(struct hist *h, uint64_t us);
void hist_merge(struct hist *into, const struct hist *from);
/* Value at quantile q (0..1), as the middle of its bucket, never above the exact maximum. */
uint64_t hist_quantile(const struct hist *h, double q);

/* What one worker process found; lives in memory shared with the parent. */
struct worker_result {
  uint64_t sessions;          /* sessions that ended inside the measured window */
  uint64_t sessions_started;  /* over the whole run, warm-up included */
  uint64_t late_starts;       /* rate mode: a session was due but every connection was busy */
  uint64_t idle_established;  /* idle mode: connections holding after CONNECT */
  uint64_t errors[ERR_COUNT];
  uint64_t verdicts[ST_COUNT][256]; /* final reply codes per stage, inside the window */
  uint64_t modifications;     /* end-of-message modification packets */
  char reply_text[ST_COUNT][160]; /* the first reply code text ('y') seen per stage, for the report */
  double cpu_user_s, cpu_sys_s; /* inside the window */
  uint32_t version, actions, protocol; /* last negotiation seen */
  int negotiated;
  struct hist hist[ST_COUNT];
};

/*
 * A message read from a file (--message-file) and sent as Postfix sends it: each header field as one
 * HEADER packet (one space after the colon removed, folded lines joined with LF, no trailing CRLF),
 * then the body with CRLF line endings in BODY packets of at most 65535 bytes.
 */
struct header_field {
  const char *name, *value;
  size_t name_len, value_len;
};

struct message_file {
  const char *path;
  size_t size;               /* bytes of the message as Postfix would receive it: header block + CRLF + body */
  int header_count;
  struct header_field *headers;
  unsigned char *body;       /* CRLF line endings */
  size_t body_len;
};

/* Reads and splits a message file; exits with a message on failure. */
void load_message_file(const char *path, struct message_file *out);

struct target {
  int family; /* AF_INET or AF_UNIX */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char text[256];
};

struct options {
  struct target target;
  int connections, processes;
  double duration_s, warmup_s, rate; /* rate: sessions/s for all processes; 0 = as fast as possible */
  int rcpts, full_message, headers, body_bytes;
  uint32_t ip_pool, sender_pool, rcpt_pool;
  uint32_t ip_base;          /* host order; client addresses are spread over base/10 */
  uint64_t first_session;
  int idle;                  /* hold connections idle after CONNECT and HELO instead of running sessions */
  int timeout_ms;
  const char *json_file, *label;
  struct message_file *files; /* --message-file: session n sends files[n % file_count] instead of the synthetic message */
  int file_count;
};

/* Runs one worker's share of connections until the window ends; t0_ns is the common start (CLOCK_MONOTONIC). */
void run_worker(const struct options *opt, int worker, int connections, uint64_t t0_ns, struct worker_result *out);
uint64_t now_ns(void);

#endif
