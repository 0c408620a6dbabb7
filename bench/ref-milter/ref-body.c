/* Reference milter for bench/content/content-bench.ts: libmilter, continue everywhere, with the
   header, end-of-header and body callbacks registered, so that the MTA sends it the whole message
   as it sends Floodgate with content rules. It looks at nothing: the floor of a C milter that
   receives every message byte (libmilter's framing, its thread per connection, the copies). */
#include <stdio.h>
#include <stdlib.h>
#include <libmilter/mfapi.h>

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr) { (void)ctx; (void)host; (void)addr; return SMFIS_CONTINUE; }
static sfsistat on_helo(SMFICTX *ctx, char *name) { (void)ctx; (void)name; return SMFIS_CONTINUE; }
static sfsistat on_mail(SMFICTX *ctx, char **argv) { (void)ctx; (void)argv; return SMFIS_CONTINUE; }
static sfsistat on_rcpt(SMFICTX *ctx, char **argv) { (void)ctx; (void)argv; return SMFIS_CONTINUE; }
static sfsistat on_data(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }
static sfsistat on_header(SMFICTX *ctx, char *name, char *value) { (void)ctx; (void)name; (void)value; return SMFIS_CONTINUE; }
static sfsistat on_eoh(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }
static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t len) { (void)ctx; (void)chunk; (void)len; return SMFIS_CONTINUE; }
static sfsistat on_eom(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s inet:PORT@127.0.0.1 | unix:/path\n", argv[0]);
    return 2;
  }
  struct smfiDesc desc = {
    .xxfi_name = "floodgate-bench-ref-body",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = 0,
    .xxfi_connect = on_connect,
    .xxfi_helo = on_helo,
    .xxfi_envfrom = on_mail,
    .xxfi_envrcpt = on_rcpt,
    .xxfi_data = on_data,
    .xxfi_header = on_header,
    .xxfi_eoh = on_eoh,
    .xxfi_body = on_body,
    .xxfi_eom = on_eom,
  };
  if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
    fprintf(stderr, "ref-body: cannot set up %s\n", argv[1]);
    return 1;
  }
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
