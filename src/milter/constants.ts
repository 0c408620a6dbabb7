// Wire constants of the milter protocol, version 6, each named after its libmilter macro (mfdef.h).

/** Highest protocol version we speak; Postfix and Sendmail 8.14+ offer 6. */
export const MILTER_VERSION = 6;
/** libmilter refuses MTAs below version 2; so do we. */
export const MILTER_MIN_VERSION = 2;

/** libmilter's MILTER_MAX_DATA_SIZE: the most data bytes a peer built on it will read per packet. */
export const MAX_OUTGOING_DATA = 65535;
/** Postfix sends a header as one packet and its header_size_limit is 102400, so accept far more. */
export const DEFAULT_MAX_INCOMING_FRAME = 1024 * 1024;

/** Commands, MTA -> milter (SMFIC_*). */
export const Cmd = {
  ABORT: 0x41, // SMFIC_ABORT 'A'
  BODY: 0x42, // SMFIC_BODY 'B'
  CONNECT: 0x43, // SMFIC_CONNECT 'C'
  MACRO: 0x44, // SMFIC_MACRO 'D'
  BODYEOB: 0x45, // SMFIC_BODYEOB 'E'
  HELO: 0x48, // SMFIC_HELO 'H'
  QUIT_NC: 0x4b, // SMFIC_QUIT_NC 'K'
  HEADER: 0x4c, // SMFIC_HEADER 'L'
  MAIL: 0x4d, // SMFIC_MAIL 'M'
  EOH: 0x4e, // SMFIC_EOH 'N'
  OPTNEG: 0x4f, // SMFIC_OPTNEG 'O'
  QUIT: 0x51, // SMFIC_QUIT 'Q'
  RCPT: 0x52, // SMFIC_RCPT 'R'
  DATA: 0x54, // SMFIC_DATA 'T'
  UNKNOWN: 0x55, // SMFIC_UNKNOWN 'U'
} as const;

/** Replies, milter -> MTA (SMFIR_*). */
export const Rep = {
  ADDRCPT: 0x2b, // SMFIR_ADDRCPT '+'
  DELRCPT: 0x2d, // SMFIR_DELRCPT '-'
  ADDRCPT_PAR: 0x32, // SMFIR_ADDRCPT_PAR '2'
  SHUTDOWN: 0x34, // SMFIR_SHUTDOWN '4' (Postfix only)
  ACCEPT: 0x61, // SMFIR_ACCEPT 'a'
  REPLBODY: 0x62, // SMFIR_REPLBODY 'b'
  CONTINUE: 0x63, // SMFIR_CONTINUE 'c'
  DISCARD: 0x64, // SMFIR_DISCARD 'd'
  CHGFROM: 0x65, // SMFIR_CHGFROM 'e'
  ADDHEADER: 0x68, // SMFIR_ADDHEADER 'h'
  INSHEADER: 0x69, // SMFIR_INSHEADER 'i'
  CHGHEADER: 0x6d, // SMFIR_CHGHEADER 'm'
  PROGRESS: 0x70, // SMFIR_PROGRESS 'p'
  QUARANTINE: 0x71, // SMFIR_QUARANTINE 'q'
  REJECT: 0x72, // SMFIR_REJECT 'r'
  SKIP: 0x73, // SMFIR_SKIP 's'
  TEMPFAIL: 0x74, // SMFIR_TEMPFAIL 't'
  REPLYCODE: 0x79, // SMFIR_REPLYCODE 'y'
  OPTNEG: 0x4f, // SMFIC_OPTNEG 'O', reused as the negotiation answer
} as const;

/** Address families in CONNECT (SMFIA_*). */
export const Family = {
  UNKNOWN: 0x55, // SMFIA_UNKNOWN 'U'
  UNIX: 0x4c, // SMFIA_UNIX 'L'
  INET: 0x34, // SMFIA_INET '4'
  INET6: 0x36, // SMFIA_INET6 '6'
} as const;

/** Action flags (SMFIF_*): what the milter may do at end of message. */
export const Action = {
  ADDHDRS: 0x001, // SMFIF_ADDHDRS
  CHGBODY: 0x002, // SMFIF_CHGBODY
  ADDRCPT: 0x004, // SMFIF_ADDRCPT
  DELRCPT: 0x008, // SMFIF_DELRCPT
  CHGHDRS: 0x010, // SMFIF_CHGHDRS
  QUARANTINE: 0x020, // SMFIF_QUARANTINE
  CHGFROM: 0x040, // SMFIF_CHGFROM
  ADDRCPT_PAR: 0x080, // SMFIF_ADDRCPT_PAR
  SETSYMLIST: 0x100, // SMFIF_SETSYMLIST
} as const;

/** Protocol flags (SMFIP_*). */
export const Proto = {
  NOCONNECT: 0x00000001, // SMFIP_NOCONNECT
  NOHELO: 0x00000002, // SMFIP_NOHELO
  NOMAIL: 0x00000004, // SMFIP_NOMAIL
  NORCPT: 0x00000008, // SMFIP_NORCPT
  NOBODY: 0x00000010, // SMFIP_NOBODY
  NOHDRS: 0x00000020, // SMFIP_NOHDRS
  NOEOH: 0x00000040, // SMFIP_NOEOH
  NR_HDR: 0x00000080, // SMFIP_NR_HDR (old name SMFIP_NOHREPL)
  NOUNKNOWN: 0x00000100, // SMFIP_NOUNKNOWN
  NODATA: 0x00000200, // SMFIP_NODATA
  SKIP: 0x00000400, // SMFIP_SKIP
  RCPT_REJ: 0x00000800, // SMFIP_RCPT_REJ
  NR_CONN: 0x00001000, // SMFIP_NR_CONN
  NR_HELO: 0x00002000, // SMFIP_NR_HELO
  NR_MAIL: 0x00004000, // SMFIP_NR_MAIL
  NR_RCPT: 0x00008000, // SMFIP_NR_RCPT
  NR_DATA: 0x00010000, // SMFIP_NR_DATA
  NR_UNKN: 0x00020000, // SMFIP_NR_UNKN
  NR_EOH: 0x00040000, // SMFIP_NR_EOH
  NR_BODY: 0x00080000, // SMFIP_NR_BODY
  HDR_LEADSPC: 0x00100000, // SMFIP_HDR_LEADSPC
} as const;

/** libmilter's defaults for MTAs that offer 0 (very old Sendmail): SMFI_V1_ACTS, SMFI_V1_PROT. */
export const V1_ACTIONS = 0x0f;
export const V1_PROTOCOL = 0x3f;

/** Macro stages used in the negotiation's macro lists (SMFIM_*). EOM is numbered before EOH. */
export const MacroStage = {
  CONNECT: 0, // SMFIM_CONNECT
  HELO: 1, // SMFIM_HELO
  ENVFROM: 2, // SMFIM_ENVFROM
  ENVRCPT: 3, // SMFIM_ENVRCPT
  DATA: 4, // SMFIM_DATA
  EOM: 5, // SMFIM_EOM
  EOH: 6, // SMFIM_EOH
} as const;
export type MacroStage = (typeof MacroStage)[keyof typeof MacroStage];
