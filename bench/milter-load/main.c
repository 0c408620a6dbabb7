/*
 * milter-load: a milter-protocol load generator that plays Postfix against a milter and reports
 * sessions/s, verdict counts and per-stage latency percentiles as text and JSON.
 *
 *   milter-load [options] inet:HOST:PORT | inet:PORT@HOST | unix:/path
 *
 * C with epoll rather than Node: on a 2-core machine every cycle the generator burns is taken from
 * the milter under test; one C process drives 128 connections on a fraction of a core. `-P` splits
 * the connections over several processes, which is how bench/README.md shows the generator is not
 * the bottleneck (the reference milter's sessions/s does not rise with more generator processes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "milter-load.h"

static const char USAGE[] =
  "usage: milter-load [options] inet:HOST:PORT | inet:PORT@HOST | unix:/path\n"
  "  -c, --connections N   concurrent milter connections (default 16)\n"
  "  -P, --processes N     generator processes sharing them (default 1)\n"
  "  -d, --duration S      measured seconds (default 10)\n"
  "  -w, --warmup S        seconds run before measuring (default 2)\n"
  "  -r, --rcpts N         recipients per message (default 2)\n"
  "  -R, --rate N          sessions/s in total, open loop (default 0: as fast as the milter answers)\n"
  "  -m, --message         full message: DATA, headers, EOH, body, end of message\n"
  "      --headers N       headers per message (default 8)\n"
  "      --message-file F  send this message (headers as HEADER packets, body in BODY chunks of up to 65535\n"
  "                        bytes) instead of the synthetic one; implies -m; repeat it for several, session n\n"
  "                        sends file n modulo their count\n"
  "      --body BYTES      body bytes per message (default 2048)\n"
  "      --ips N           distinct client IPv4 addresses (default 262144), spread over --ip-base/10\n"
  "      --ip-base A.B.C.D (default 100.64.0.0)\n"
  "      --senders N       distinct senders (default 262144)\n"
  "      --recipients N    distinct recipients (default 1000000)\n"
  "      --first-session N session number to start at (moves the addresses used)\n"
  "      --idle            open the connections, run OPTNEG, CONNECT, HELO, then hold them idle\n"
  "      --timeout MS      longest wait for one reply (default 10000)\n"
  "  -j, --json FILE       also write the results as JSON\n"
  "  -l, --label TEXT      label stored in the JSON\n";

static int parse_target(const char *spec, struct target *t) {
  memset(t, 0, sizeof *t);
  snprintf(t->text, sizeof t->text, "%s", spec);
  if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
    const char *path = strchr(spec, ':') + 1;
    struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;
    if (strlen(path) >= sizeof un->sun_path) return -1;
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    t->family = AF_UNIX;
    t->addr_len = sizeof *un;
    return 0;
  }
  if (strncmp(spec, "inet:", 5) != 0) return -1;
  char host[128];
  int port;
  const char *rest = spec + 5, *at = strchr(rest, '@'), *colon = strrchr(rest, ':');
  if (at) { port = atoi(rest); snprintf(host, sizeof host, "%s", at + 1); }
  else if (colon) { snprintf(host, sizeof host, "%.*s", (int)(colon - rest), rest); port = atoi(colon + 1); }
  else return -1;
  struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &in->sin_addr) != 1) return -1;
  t->family = AF_INET;
  t->addr_len = sizeof *in;
  return 0;
}

static void parse_options(int argc, char **argv, struct options *o) {
  *o = (struct options){.connections = 16, .processes = 1, .duration_s = 10, .warmup_s = 2, .rcpts = 2, .headers = 8, .body_bytes = 2048,
                        .ip_pool = 262144, .sender_pool = 262144, .rcpt_pool = 1000000, .ip_base = 0x64400000u, .timeout_ms = 10000};
  static const struct option longs[] = {
    {"connections", 1, 0, 'c'}, {"processes", 1, 0, 'P'}, {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'}, {"rcpts", 1, 0, 'r'},
    {"rate", 1, 0, 'R'}, {"message", 0, 0, 'm'}, {"headers", 1, 0, 1}, {"body", 1, 0, 2}, {"ips", 1, 0, 3}, {"ip-base", 1, 0, 4},
    {"senders", 1, 0, 5}, {"recipients", 1, 0, 6}, {"first-session", 1, 0, 7}, {"idle", 0, 0, 8}, {"timeout", 1, 0, 9}, {"message-file", 1, 0, 10},
    {"json", 1, 0, 'j'}, {"label", 1, 0, 'l'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:P:d:w:r:R:mj:l:h", longs, NULL)) != -1) {
    switch (ch) {
      case 'c': o->connections = atoi(optarg); break;
      case 'P': o->processes = atoi(optarg); break;
      case 'd': o->duration_s = atof(optarg); break;
      case 'w': o->warmup_s = atof(optarg); break;
      case 'r': o->rcpts = atoi(optarg); break;
      case 'R': o->rate = atof(optarg); break;
      case 'm': o->full_message = 1; break;
      case 1: o->headers = atoi(optarg); break;
      case 2: o->body_bytes = atoi(optarg); break;
      case 3: o->ip_pool = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 4: {
        struct in_addr a;
        if (inet_pton(AF_INET, optarg, &a) != 1) { fprintf(stderr, "milter-load: bad --ip-base\n"); exit(64); }
        o->ip_base = ntohl(a.s_addr) & 0xFFC00000u;
        break;
      }
      case 5: o->sender_pool = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 6: o->rcpt_pool = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 7: o->first_session = strtoull(optarg, NULL, 10); break;
      case 8: o->idle = 1; break;
      case 9: o->timeout_ms = atoi(optarg); break;
      case 10:
        o->files = realloc(o->files, sizeof *o->files * (size_t)(o->file_count + 1));
        load_message_file(optarg, &o->files[o->file_count++]);
        o->full_message = 1;
        break;
      case 'j': o->json_file = optarg; break;
      case 'l': o->label = optarg; break;
      default: fputs(USAGE, ch == 'h' ? stdout : stderr); exit(ch == 'h' ? 0 : 64);
    }
  }
  if (optind != argc - 1 || parse_target(argv[optind], &o->target) < 0) { fputs(USAGE, stderr); exit(64); }
  if (o->connections < 1 || o->processes < 1 || o->processes > o->connections || o->rcpts < 1 || o->duration_s <= 0 ||
      o->ip_pool < 1 || o->ip_pool > (1u << 22) || o->sender_pool < 1 || o->rcpt_pool < 1 || o->headers < 0 || o->body_bytes < 0) {
    fprintf(stderr, "milter-load: option out of range\n%s", USAGE);
    exit(64);
  }
}

static void print_text(const struct options *o, const struct worker_result *r, double sessions_per_s) {
  printf("milter-load %s  C=%d  P=%d  %s, %d rcpt%s  %.0f s (+%.0f s warm-up)%s\n", o->target.text, o->connections, o->processes,
         o->full_message ? "full message" : "envelope", o->rcpts, o->rcpts == 1 ? "" : "s", o->duration_s, o->warmup_s, o->idle ? "  IDLE" : "");
  for (int i = 0; i < o->file_count; i++)
    printf("message file %s: %zu bytes, %d header fields, %zu body bytes\n", o->files[i].path, o->files[i].size, o->files[i].headers ? o->files[i].header_count : 0, o->files[i].body_len);
  if (r->negotiated) printf("negotiated: version %u, actions 0x%x, protocol 0x%06x\n", r->version, r->actions, r->protocol);
  if (o->idle) printf("idle connections established: %llu of %d\n", (unsigned long long)r->idle_established, o->connections);
  else printf("sessions: %llu  (%.0f/s)%s\n", (unsigned long long)r->sessions, sessions_per_s, o->rate > 0 ? "" : "  closed loop");
  if (o->rate > 0) printf("target rate %.0f/s, late starts %llu\n", o->rate, (unsigned long long)r->late_starts);
  printf("errors:");
  for (int e = 0; e < ERR_COUNT; e++) printf(" %s=%llu", ERROR_NAMES[e], (unsigned long long)r->errors[e]);
  printf("\ngenerator CPU: %.2f s user + %.2f s system = %.2f cores\n", r->cpu_user_s, r->cpu_sys_s, (r->cpu_user_s + r->cpu_sys_s) / o->duration_s);
  printf("%-8s %9s %9s %9s %9s %9s %9s %9s  verdicts\n", "stage", "count", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "mean us");
  for (int s = 0; s < ST_COUNT; s++) {
    const struct hist *h = &r->hist[s];
    if (h->count == 0) continue;
    printf("%-8s %9llu %9llu %9llu %9llu %9llu %9llu %9.0f  ", STAGE_NAMES[s], (unsigned long long)h->count, (unsigned long long)hist_quantile(h, 0.5),
           (unsigned long long)hist_quantile(h, 0.9), (unsigned long long)hist_quantile(h, 0.99), (unsigned long long)hist_quantile(h, 0.999),
           (unsigned long long)h->max_us, (double)h->sum_us / (double)h->count);
    for (int v = 0; v < 256; v++) if (r->verdicts[s][v]) printf("%c=%llu ", v, (unsigned long long)r->verdicts[s][v]);
    if (r->reply_text[s][0]) printf(" first y: %s", r->reply_text[s]);
    putchar('\n');
  }
}

static void write_json(const struct options *o, const struct worker_result *r, double sessions_per_s) {
  FILE *f = fopen(o->json_file, "w");
  if (!f) { perror(o->json_file); exit(1); }
  fprintf(f, "{\n  \"label\": \"%s\",\n  \"target\": \"%s\",\n  \"connections\": %d,\n  \"processes\": %d,\n", o->label ? o->label : "", o->target.text,
          o->connections, o->processes);
  fprintf(f, "  \"mode\": \"%s\",\n  \"rcpts\": %d,\n  \"duration_s\": %g,\n  \"warmup_s\": %g,\n  \"rate_target\": %g,\n", o->idle ? "idle" : o->full_message ? "message" : "envelope",
          o->rcpts, o->duration_s, o->warmup_s, o->rate);
  double mean_bytes = 0;
  for (int i = 0; i < o->file_count; i++) mean_bytes += (double)o->files[i].size / o->file_count;
  fprintf(f, "  \"message_files\": %d,\n  \"message_bytes_mean\": %.0f,\n", o->file_count, mean_bytes);
  fprintf(f, "  \"client_ips\": %u,\n  \"senders\": %u,\n  \"sessions\": %llu,\n  \"sessions_per_s\": %.1f,\n  \"late_starts\": %llu,\n  \"idle_established\": %llu,\n",
          o->ip_pool, o->sender_pool, (unsigned long long)r->sessions, sessions_per_s, (unsigned long long)r->late_starts, (unsigned long long)r->idle_established);
  fprintf(f, "  \"negotiated\": {\"version\": %u, \"actions\": %u, \"protocol\": %u},\n", r->version, r->actions, r->protocol);
  fprintf(f, "  \"generator_cpu_s\": %.3f,\n  \"modifications\": %llu,\n  \"errors\": {", r->cpu_user_s + r->cpu_sys_s, (unsigned long long)r->modifications);
  for (int e = 0; e < ERR_COUNT; e++) fprintf(f, "%s\"%s\": %llu", e ? ", " : "", ERROR_NAMES[e], (unsigned long long)r->errors[e]);
  fprintf(f, "},\n  \"stages\": {");
  int first = 1;
  for (int s = 0; s < ST_COUNT; s++) {
    const struct hist *h = &r->hist[s];
    if (h->count == 0) continue;
    fprintf(f, "%s\n    \"%s\": {\"count\": %llu, \"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, \"p999_us\": %llu, \"max_us\": %llu, \"mean_us\": %.1f, \"verdicts\": {",
            first ? "" : ",", STAGE_NAMES[s], (unsigned long long)h->count, (unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
            (unsigned long long)hist_quantile(h, 0.99), (unsigned long long)hist_quantile(h, 0.999), (unsigned long long)h->max_us, (double)h->sum_us / (double)h->count);
    int vfirst = 1;
    for (int v = 0; v < 256; v++) {
      if (!r->verdicts[s][v]) continue;
      fprintf(f, "%s\"%c\": %llu", vfirst ? "" : ", ", v, (unsigned long long)r->verdicts[s][v]);
      vfirst = 0;
    }
    fprintf(f, "}, \"first_reply_text\": \"%s\"}", r->reply_text[s]);
    first = 0;
  }
  fprintf(f, "\n  }\n}\n");
  fclose(f);
}

int main(int argc, char **argv) {
  struct options o;
  parse_options(argc, argv, &o);
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  size_t size = sizeof(struct worker_result) * (size_t)o.processes;
  struct worker_result *results = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (results == MAP_FAILED) { perror("mmap"); return 1; }
  memset(results, 0, size);
  /* A common start a little ahead, so every worker measures the same window. */
  uint64_t t0 = now_ns() + 100000000ULL;
  fflush(stdout);
  for (int p = 0; p < o.processes; p++) {
    int share = o.connections / o.processes + (p < o.connections % o.processes ? 1 : 0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      run_worker(&o, p, share, t0, &results[p]);
      _exit(0);
    }
  }
  int failed = 0, status;
  while (wait(&status) > 0) if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  static struct worker_result total;
  for (int p = 0; p < o.processes; p++) {
    const struct worker_result *r = &results[p];
    total.sessions += r->sessions;
    total.sessions_started += r->sessions_started;
    total.late_starts += r->late_starts;
    total.idle_established += r->idle_established;
    total.modifications += r->modifications;
    total.cpu_user_s += r->cpu_user_s;
    total.cpu_sys_s += r->cpu_sys_s;
    for (int e = 0; e < ERR_COUNT; e++) total.errors[e] += r->errors[e];
    for (int s = 0; s < ST_COUNT; s++) {
      hist_merge(&total.hist[s], &r->hist[s]);
      for (int v = 0; v < 256; v++) total.verdicts[s][v] += r->verdicts[s][v];
      if (!total.reply_text[s][0]) memcpy(total.reply_text[s], r->reply_text[s], sizeof total.reply_text[s]);
    }
    if (r->negotiated) { total.negotiated = 1; total.version = r->version; total.actions = r->actions; total.protocol = r->protocol; }
  }
  double rate = (double)total.sessions / o.duration_s;
  print_text(&o, &total, rate);
  if (o.json_file) write_json(&o, &total, rate);
  return failed ? 1 : 0;
}
