/* Reference milter for bench/latency-bench.ts: libmilter, accept-all, same stages as Floodgate's bench handler. */
#include <stdio.h>
#include <stdlib.h>
#include <libmilter/mfapi.h>

/* Every stage answers continue; the stages are registered so that libmilter negotiates what
   Floodgate's bench handler negotiates (a NULL xxfi_data would make libmilter ask for SMFIP_NODATA,
   which stalls Postfix over TCP: see the protocol reference, section 12.15). */
static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr) { (void)ctx; (void)host; (void)addr; return SMFIS_CONTINUE; }
static sfsistat on_helo(SMFICTX *ctx, char *name) { (void)ctx; (void)name; return SMFIS_CONTINUE; }
static sfsistat on_mail(SMFICTX *ctx, char **argv) { (void)ctx; (void)argv; return SMFIS_CONTINUE; }
static sfsistat on_rcpt(SMFICTX *ctx, char **argv) { (void)ctx; (void)argv; return SMFIS_CONTINUE; }
static sfsistat on_data(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }
static sfsistat on_eom(SMFICTX *ctx) { (void)ctx; return SMFIS_CONTINUE; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s inet:PORT@127.0.0.1 | unix:/path\n", argv[0]);
    return 2;
  }
  struct smfiDesc desc = {
    .xxfi_name = "floodgate-bench-ref",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = 0,
    .xxfi_connect = on_connect,
    .xxfi_helo = on_helo,
    .xxfi_envfrom = on_mail,
    .xxfi_envrcpt = on_rcpt,
    .xxfi_data = on_data,
    .xxfi_eom = on_eom,
  };
  if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
    fprintf(stderr, "ref-milter: cannot set up %s\n", argv[1]);
    return 1;
  }
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
