/*
 * milter-load: reading a message file for --message-file. The file is an RFC 5322 message (LF or
 * CRLF line endings); it is split here once, so that sending it costs the generator only copies.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "milter-load.h"

static void die(const char *path, const char *why) {
  fprintf(stderr, "milter-load: %s: %s\n", path, why);
  exit(66);
}

/* The file's lines, without their line ending (LF or CRLF); returns the count. */
static size_t split_lines(char *data, size_t size, char ***lines_out, size_t **lengths_out) {
  size_t cap = 1024, n = 0;
  char **lines = malloc(cap * sizeof *lines);
  size_t *lengths = malloc(cap * sizeof *lengths);
  size_t at = 0;
  while (at < size) {
    char *nl = memchr(data + at, '\n', size - at);
    size_t end = nl ? (size_t)(nl - data) : size;
    size_t len = end - at;
    if (len > 0 && data[at + len - 1] == '\r') len--;
    if (n == cap) {
      cap *= 2;
      lines = realloc(lines, cap * sizeof *lines);
      lengths = realloc(lengths, cap * sizeof *lengths);
    }
    lines[n] = data + at;
    lengths[n] = len;
    n++;
    at = nl ? end + 1 : size;
  }
  *lines_out = lines;
  *lengths_out = lengths;
  return n;
}

void load_message_file(const char *path, struct message_file *out) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path, "cannot open");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size <= 0) die(path, "empty");
  char *data = malloc((size_t)size);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) die(path, "cannot read");
  fclose(f);

  char **lines;
  size_t *lengths;
  size_t count = split_lines(data, (size_t)size, &lines, &lengths);
  memset(out, 0, sizeof *out);
  out->path = path;
  out->headers = calloc(count + 1, sizeof *out->headers);

  /* Header fields up to the first empty line; a continuation line joins its field with LF, as Postfix sends it. */
  size_t i = 0, header_bytes = 0;
  for (; i < count && lengths[i] > 0; i++) {
    header_bytes += lengths[i] + 2;
    if ((lines[i][0] == ' ' || lines[i][0] == '\t') && out->header_count > 0) {
      struct header_field *h = &out->headers[out->header_count - 1];
      char *joined = malloc(h->value_len + 1 + lengths[i]);
      memcpy(joined, h->value, h->value_len);
      joined[h->value_len] = '\n';
      memcpy(joined + h->value_len + 1, lines[i], lengths[i]);
      h->value = joined;
      h->value_len += 1 + lengths[i];
      continue;
    }
    char *colon = memchr(lines[i], ':', lengths[i]);
    if (!colon) die(path, "a header line without a colon");
    struct header_field *h = &out->headers[out->header_count++];
    h->name = lines[i];
    h->name_len = (size_t)(colon - lines[i]);
    h->value = colon + 1;
    h->value_len = lengths[i] - h->name_len - 1;
    /* Without SMFIP_HDR_LEADSPC both MTAs remove exactly one space after the colon. */
    if (h->value_len > 0 && h->value[0] == ' ') { h->value++; h->value_len--; }
  }
  if (out->header_count == 0) die(path, "no header fields");
  /* The body: every line after the empty one, each ended by CRLF (Postfix adds CRLF to each stored line). */
  size_t body_len = 0;
  for (size_t j = i + 1; j < count; j++) body_len += lengths[j] + 2;
  out->body = malloc(body_len + 1);
  size_t at = 0;
  for (size_t j = i + 1; j < count; j++) {
    memcpy(out->body + at, lines[j], lengths[j]);
    at += lengths[j];
    out->body[at++] = '\r';
    out->body[at++] = '\n';
  }
  out->body_len = body_len;
  out->size = header_bytes + 2 + body_len;
  free(lines);
  free(lengths);
  /* `data` stays allocated: the header fields point into it. */
}
