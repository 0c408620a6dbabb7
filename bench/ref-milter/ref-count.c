/*
 * Reference rate limiter in C on libmilter for the benchmarks: counts recipients per client IP in
 * memory and tempfails a recipient once its IP went over a threshold in the current window.
 *
 *   gcc -O2 -o ref-count ref-count.c -lmilter -lpthread
 *   ref-count inet:PORT@127.0.0.1 | unix:/path [threshold=60] [window_seconds=600]
 *
 * It is the "what a plain C milter does" yardstick for Floodgate (bench/README.md), so it registers
 * the stages Floodgate negotiates with the shipped rules and no others: CONNECT (the client
 * address), RCPT (count and decide), DATA and end of message. DATA is registered only so that
 * libmilter does not ask for SMFIP_NODATA, which makes Postfix over TCP stall ~40 ms per message on
 * a delayed ACK (protocol reference, section 12.15); Floodgate avoids that too.
 * One hash table behind one mutex: libmilter runs a thread per connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <libmilter/mfapi.h>

#define BUCKETS (1u << 20)
#define ADDR_MAX 64

struct entry {
  struct entry *next;
  time_t window;
  unsigned count;
  char addr[ADDR_MAX];
};

static struct entry *table[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned threshold = 60;
static time_t window_seconds = 600;

static uint32_t hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* Adds one recipient to the address's count in the current window; returns the new count. */
static unsigned count_rcpt(const char *addr) {
  time_t window = time(NULL) / window_seconds;
  uint32_t b = hash(addr) & (BUCKETS - 1);
  pthread_mutex_lock(&lock);
  struct entry *e = table[b];
  while (e && strcmp(e->addr, addr) != 0) e = e->next;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e) { pthread_mutex_unlock(&lock); return 0; }
    snprintf(e->addr, sizeof e->addr, "%s", addr);
    e->next = table[b];
    table[b] = e;
  }
  if (e->window != window) { e->window = window; e->count = 0; }
  unsigned n = ++e->count;
  pthread_mutex_unlock(&lock);
  return n;
}

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa) {
  (void)host;
  char *addr = calloc(1, ADDR_MAX);
  if (!addr) return SMFIS_TEMPFAIL;
  if (sa && sa->sa_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, addr, ADDR_MAX);
  else if (sa && sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, addr, ADDR_MAX);
  else snprintf(addr, ADDR_MAX, "local");
  smfi_setpriv(ctx, addr);
  return SMFIS_CONTINUE;
}

static sfsistat on_rcpt(SMFICTX *ctx, char **argv) {
  (void)argv;
  const char *addr = smfi_getpriv(ctx);
  if (!addr || count_rcpt(addr) <= threshold) return SMFIS_CONTINUE;
  smfi_setreply(ctx, "451", "4.7.1", "Too much mail from your address; slow down and try again later");
  return SMFIS_TEMPFAIL;
}

static sfsistat on_data(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }
static sfsistat on_eom(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }

static sfsistat on_close(SMFICTX *ctx) {
  free(smfi_getpriv(ctx));
  smfi_setpriv(ctx, NULL);
  return SMFIS_CONTINUE;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s inet:PORT@127.0.0.1 | unix:/path [threshold=60] [window_seconds=600]\n", argv[0]);
    return 2;
  }
  if (argc > 2) threshold = (unsigned)strtoul(argv[2], NULL, 10);
  if (argc > 3) window_seconds = (time_t)strtol(argv[3], NULL, 10);
  if (window_seconds < 1) window_seconds = 1;
  struct smfiDesc desc = {
    .xxfi_name = "floodgate-bench-ref-count",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = 0,
    .xxfi_connect = on_connect,
    .xxfi_envrcpt = on_rcpt,
    .xxfi_data = on_data,
    .xxfi_eom = on_eom,
    .xxfi_close = on_close,
  };
  /* A unix socket must be reachable by Postfix's smtpd (user postfix): libmilter creates it under our umask. */
  umask(0);
  if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_setbacklog(1024) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
    fprintf(stderr, "ref-count: cannot set up %s\n", argv[1]);
    return 1;
  }
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
