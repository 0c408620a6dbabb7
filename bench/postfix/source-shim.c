/*
 * LD_PRELOAD shim for smtp-source: every SMTP connection comes from its own loopback address and
 * every message from its own sender, so that rate limiters see many clients (as an MX does), not
 * one flooder. smtp-source has no source-address or sender-sequence option, and no XCLIENT.
 *
 *   gcc -O2 -shared -fPIC -o source-shim.so source-shim.c -ldl
 *   SHIM_FIRST=N LD_PRELOAD=./source-shim.so smtp-source -f s0000000@bench.example ...
 *
 * connect() to 127.0.0.1 binds first to 127.A.B.C (A 1..254, C 1..254: never 127.0.0.x, which the
 * bench rules still trust as the MTA itself), message number n = SHIM_FIRST + connections so far.
 * write() of "MAIL FROM:<s0000000@" on that connection replaces the seven zeros with n modulo 10^7,
 * in place (same length).
 * Traffic stays on the loopback interface.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long counter;
static int started;
/* The number given to the connection on each descriptor: smtp-source runs its sessions in one process. */
static unsigned long number_of_fd[65536];

static unsigned long next_number(void) {
  if (!started) {
    const char *first = getenv("SHIM_FIRST");
    counter = first ? strtoul(first, NULL, 10) : 0;
    started = 1;
  }
  return counter++;
}

/* 254 * 256 * 254 addresses; consecutive numbers land in different /24s. */
static in_addr_t source_for(unsigned long n) {
  unsigned long space = 254UL * 256UL * 254UL;
  n %= space;
  unsigned c = 1 + (unsigned)(n % 254), rest = (unsigned)(n / 254);
  unsigned a = 1 + rest % 254, b = rest / 254;
  return htonl((127u << 24) | (a << 16) | (b << 8) | c);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  static int (*real_connect)(int, const struct sockaddr *, socklen_t);
  if (!real_connect) real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  if (addr && addr->sa_family == AF_INET && ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    unsigned long n = next_number();
    if (fd >= 0 && fd < 65536) number_of_fd[fd] = n;
    src.sin_addr.s_addr = source_for(n);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) perror("source-shim: bind");
  }
  return real_connect(fd, addr, len);
}

static const char MARK[] = "MAIL FROM:<s0000000@";

ssize_t write(int fd, const void *buf, size_t count) {
  static ssize_t (*real_write)(int, const void *, size_t);
  if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  if (count >= sizeof MARK - 1 && memcmp(buf, MARK, sizeof MARK - 1) == 0) {
    char copy[1024];
    if (count <= sizeof copy) {
      memcpy(copy, buf, count);
      char digits[8];
      snprintf(digits, sizeof digits, "%07lu", (fd >= 0 && fd < 65536 ? number_of_fd[fd] : 0) % 10000000UL);
      memcpy(copy + 12, digits, 7);
      return real_write(fd, copy, count);
    }
  }
  return real_write(fd, buf, count);
}
