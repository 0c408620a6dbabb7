// Wire constants checked against the tables of the protocol reference (section 2), written out here independently.
import { Action, Cmd, Family, MacroStage, MAX_OUTGOING_DATA, MILTER_MIN_VERSION, MILTER_VERSION, Proto, Rep, V1_ACTIONS, V1_PROTOCOL } from '../../../src/milter/constants';

const chars = (table: Record<string, number>): Record<string, string> =>
  Object.fromEntries(Object.entries(table).map(([name, code]) => [name, String.fromCharCode(code)]));

test('commands (SMFIC_*) are the letters of section 2.1', () => {
  expect(chars(Cmd)).toEqual({
    ABORT: 'A', BODY: 'B', CONNECT: 'C', MACRO: 'D', BODYEOB: 'E', HELO: 'H', QUIT_NC: 'K', HEADER: 'L',
    MAIL: 'M', EOH: 'N', OPTNEG: 'O', QUIT: 'Q', RCPT: 'R', DATA: 'T', UNKNOWN: 'U',
  });
});

test('replies (SMFIR_*) are the characters of section 2.2', () => {
  expect(chars(Rep)).toEqual({
    ADDRCPT: '+', DELRCPT: '-', ADDRCPT_PAR: '2', SHUTDOWN: '4', ACCEPT: 'a', REPLBODY: 'b', CONTINUE: 'c',
    DISCARD: 'd', CHGFROM: 'e', ADDHEADER: 'h', INSHEADER: 'i', CHGHEADER: 'm', PROGRESS: 'p',
    QUARANTINE: 'q', REJECT: 'r', SKIP: 's', TEMPFAIL: 't', REPLYCODE: 'y', OPTNEG: 'O',
  });
});

test('address families (SMFIA_*)', () => {
  expect(chars(Family)).toEqual({ UNKNOWN: 'U', UNIX: 'L', INET: '4', INET6: '6' });
});

test('action flags are distinct single bits making up the current set 0x1FF', () => {
  const bits = Object.values(Action);
  expect(bits.every((b) => b > 0 && (b & (b - 1)) === 0)).toBe(true);
  expect(bits.reduce((a, b) => a | b, 0)).toBe(0x1ff);
  expect(bits.reduce((a, b) => a + b, 0)).toBe(0x1ff);
  expect(Action).toMatchObject({ ADDHDRS: 0x1, CHGBODY: 0x2, CHGHDRS: 0x10, QUARANTINE: 0x20, CHGFROM: 0x40, ADDRCPT_PAR: 0x80, SETSYMLIST: 0x100 });
});

test('protocol flags are distinct single bits making up all v6 bits 0x1FFFFF', () => {
  const bits = Object.values(Proto);
  expect(bits.every((b) => b > 0 && (b & (b - 1)) === 0)).toBe(true);
  expect(bits.reduce((a, b) => a + b, 0)).toBe(0x1fffff);
  expect(Proto).toMatchObject({ NR_HDR: 0x80, NOUNKNOWN: 0x100, NODATA: 0x200, SKIP: 0x400, RCPT_REJ: 0x800, NR_CONN: 0x1000, NR_BODY: 0x80000, HDR_LEADSPC: 0x100000 });
});

test('v1 compatibility sets, versions, and the outgoing packet limit', () => {
  expect([V1_ACTIONS, V1_PROTOCOL]).toEqual([0x0f, 0x3f]);
  expect([MILTER_VERSION, MILTER_MIN_VERSION]).toEqual([6, 2]);
  expect(MAX_OUTGOING_DATA).toBe(65535);
});

test('macro stages: EOM (5) is numbered before EOH (6)', () => {
  expect(MacroStage).toEqual({ CONNECT: 0, HELO: 1, ENVFROM: 2, ENVRCPT: 3, DATA: 4, EOM: 5, EOH: 6 });
});
