// OpenDKIM's miltertest, an independent milter client, drives every stage and checks every reply.
import { Action } from '../../src/milter/constants';
import type { MilterServer } from '../../src/server/milter-server';
import type { MilterHandler } from '../../src/session/handler';
import { runMiltertest } from '../support/miltertest';
import { startMilter, type ServerLog } from '../support/milter-under-test';
import { MARKED, verdictHandler, type RecordedEvent } from '../support/verdict-handler';

jest.setTimeout(30_000);

/** The shared verdict handler, listening to every stage so that miltertest can send each one. */
function everyStageHandler(events: RecordedEvent[]): MilterHandler {
  const base = verdictHandler(events);
  return {
    ...base,
    needs: () => ({ stages: new Set(['connect', 'helo', 'mail', 'rcpt', 'data', 'header', 'eoh', 'body', 'unknown'] as const), actions: Action.ADDHDRS }),
    header: (ctx, name, value) => {
      events.push({ conn: ctx.connectionId, stage: 'header', detail: `${name}=${value}` });
      return { kind: 'continue' };
    },
    eoh: (ctx) => {
      events.push({ conn: ctx.connectionId, stage: 'eoh' });
      return { kind: 'continue' };
    },
    body: (ctx, chunk) => {
      events.push({ conn: ctx.connectionId, stage: 'body', detail: chunk.toString() });
      return { kind: 'skip' };
    },
  };
}

const SCRIPT = `
local function check(what, got, want)
  if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want)) end
end
local conn = mt.connect("inet:" .. PORT .. "@127.0.0.1")
check("negotiate", mt.negotiate(conn, nil, nil, nil), nil)
check("NODATA not negotiated over TCP", mt.test_option(conn, SMFIP_NODATA), false)
check("HDRS requested", mt.test_option(conn, SMFIP_NOHDRS), false)
check("SKIP requested", mt.test_option(conn, SMFIP_SKIP), true)
check("ADDHDRS", mt.test_action(conn, SMFIF_ADDHDRS), true)
check("CHGBODY not requested", mt.test_action(conn, SMFIF_CHGBODY), false)

mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.org", "v", "Postfix 3.7.11")
check("conninfo", mt.conninfo(conn, "client.example.org", "198.51.100.30"), nil)
check("connect reply", mt.getreply(conn), SMFIR_CONTINUE)
check("helo", mt.helo(conn, "client.example.org"), nil)
check("helo reply", mt.getreply(conn), SMFIR_CONTINUE)

-- first message: the marked sender is tempfailed with a custom text
check("mail 1", mt.mailfrom(conn, "<${MARKED.tempfailedSender}>"), nil)
check("mail 1 reply", mt.getreply(conn), SMFIR_REPLYCODE)
check("abort", mt.abort(conn), nil)

-- second message: one recipient refused, every content stage, header added at the end
check("mail 2", mt.mailfrom(conn, "<alice@example.org>", "SIZE=200"), nil)
check("mail 2 reply", mt.getreply(conn), SMFIR_CONTINUE)
check("rcpt refused", mt.rcptto(conn, "<${MARKED.rejectedRecipient}>"), nil)
check("rcpt refused reply", mt.getreply(conn), SMFIR_REPLYCODE)
check("rcpt ok", mt.rcptto(conn, "<ok@example.com>"), nil)
check("rcpt ok reply", mt.getreply(conn), SMFIR_CONTINUE)
check("data", mt.data(conn), nil)
check("data reply", mt.getreply(conn), SMFIR_CONTINUE)
check("header", mt.header(conn, "Subject", "hello 100%"), nil)
check("header reply", mt.getreply(conn), SMFIR_CONTINUE)
check("empty header", mt.header(conn, "X-Empty", ""), nil)
check("empty header reply", mt.getreply(conn), SMFIR_CONTINUE)
check("eoh", mt.eoh(conn), nil)
check("eoh reply", mt.getreply(conn), SMFIR_CONTINUE)
check("body", mt.bodystring(conn, "first chunk\\r\\n"), nil)
check("body reply", mt.getreply(conn), SMFIR_SKIP)
check("eom", mt.eom(conn), nil)
check("header added", mt.eom_check(conn, MT_HDRADD, "${MARKED.header.name}", "${MARKED.header.value}"), true)
check("eom reply", mt.getreply(conn), SMFIR_CONTINUE)

-- third message on the same connection, then quit
check("mail 3", mt.mailfrom(conn, "<>"), nil)
check("mail 3 reply", mt.getreply(conn), SMFIR_CONTINUE)
check("disconnect", mt.disconnect(conn), nil)
print("all stages checked")
`;

describe('miltertest against Floodgate', () => {
  let milter: MilterServer;
  let log: ServerLog;
  const events: RecordedEvent[] = [];
  beforeAll(async () => ({ server: milter, log } = await startMilter(everyStageHandler(events))));
  afterAll(() => milter.close(1000));

  test('negotiates, sends every stage and gets the expected reply to each', async () => {
    const result = await runMiltertest(SCRIPT, { vars: { PORT: String(milter.port) } });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('all stages checked');
    expect(result.code).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(events.map((e) => e.stage)).toEqual([
      'connect', 'helo', 'mail', 'abort', 'mail', 'rcpt', 'rcpt', 'data', 'header', 'header', 'eoh', 'body', 'eom', 'mail', 'abort', 'close',
    ]);
    expect(events.find((e) => e.stage === 'header')?.detail).toBe('Subject=hello 100%');
    expect(events.filter((e) => e.stage === 'header')[1].detail).toBe('X-Empty=');
    expect(log.protocolErrors).toEqual([]);
  });

  test('a milter that is not listening makes miltertest fail (the check above can fail)', async () => {
    const result = await runMiltertest(SCRIPT, { vars: { PORT: '1' } });
    expect(result.code).not.toBe(0);
  });
});
