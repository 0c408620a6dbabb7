// A real Postfix in front of the real `floodgate run` with its HTTP listener on, a flooding client and a
// clean one: what the status page's browser test, its screenshot and its benchmark look at.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { startFloodgateProcess, type FloodgateProcess } from './floodgate-process';
import { freePort } from './ports';
import { startPostfix, type PostfixRig } from './postfix-rig';
import { sendMail, type SendMailResult } from './smtp-client';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

export const FLOODER = '192.0.2.50';
export const FLOODER_NAME = 'dyn-192-0-2-50.pool.example.net';
export const BYSTANDER = '192.0.2.51';
export const BYSTANDER_NAME = 'mail.bystander.example.com';
/** Chosen by the SMTP client, shown on the page: must come out as text, never as markup. */
export const HOSTILE_HELO = '<script>alert(1)</script>';
/** A quoted local part may hold <, > and spaces (RFC 5321 Quoted-string), so Postfix passes this on. */
export const HOSTILE_SENDER = '"<img src=x onerror=alert(2)>"@example.org';

export interface HttpUser {
  name: string;
  passwordHash: string;
}

export interface FloodgateSettings {
  /** With users: http.auth is on (Basic), and the page can reset keys. */
  users?: HttpUser[];
  /** mode: observe (answers only logged and counted as "would"). */
  observe?: boolean;
}

export interface StatusPageRigOptions extends FloodgateSettings {
  /** The compiled CLI (default: this checkout's dist/cli/main.js, found from here, compiled or not). */
  cli?: string;
}

export interface Flood {
  /** Messages sent so far. */
  readonly sent: number;
  /** Lets the message in flight finish, sends no more; the outcome of each message, in order. */
  stop(): Promise<string[]>;
}

export interface StatusPageRig {
  /** http://127.0.0.1:PORT, the status page's origin. */
  url: string;
  postfix: PostfixRig;
  floodgate: FloodgateProcess;
  /**
   * One message through Postfix; the reply code to its RCPT ("250", "451"). Whether a 250 came after
   * a tarpit is for the page and the log to say: timing it here would flake on a busy machine.
   */
  send(ip: string, n: number, opts?: { helo?: string; from?: string; name?: string }): Promise<string>;
  /**
   * Messages from FLOODER, one after another and `pauseMs` apart (default 50: a bot's pace that the
   * page's 3 s polls can follow), a third of them from HOSTILE_SENDER, until stopped.
   */
  startFlood(pauseMs?: number): Flood;
  /** Stops Floodgate and starts it again on the same milter port and scores, with these settings. */
  restartFloodgate(settings: FloodgateSettings): Promise<void>;
  stop(): Promise<void>;
}

/** The repository above `from` (the source tree, or a compiled copy under bench/results/tmp). */
function findRepo(from: string): string {
  for (let dir = resolve(from); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'rules', 'default.yml'))) return dir;
  }
  throw new Error(`no repository above ${from}`);
}

/** This checkout (the source tree, or the one above a compiled copy). */
export const REPO = findRepo(__dirname);
export const FLOODGATE_CLI = join(REPO, 'dist', 'cli', 'main.js');

/**
 * The shipped rules plus one rule on MAIL. The shipped rules count only at CONNECT and RCPT, and
 * Floodgate then negotiates MAIL away, so the sender never reaches the RCPT answers (nor the sender
 * keys): with a rule on MAIL the page shows senders, hostile ones included.
 */
function rulesText(): string {
  const shipped = readFileSync(join(REPO, 'rules', 'default.yml'), 'utf8');
  const withMail = shipped.replace(/^rules:\n/m, 'rules:\n  - name: messages-per-sender\n    on: mail\n    add: { sender: 1 }\n\n');
  if (withMail === shipped) throw new Error('rules/default.yml has no "rules:" line');
  return withMail;
}

function rcptOutcome(r: SendMailResult): string {
  const rcpt = r.rcpts[0] ?? r.transcript.find((t) => t.stage === 'rcpt')?.reply;
  return rcpt ? String(rcpt.code) : `no rcpt (${r.failedAt ?? 'unknown'}: ${r.transcript[r.transcript.length - 1]?.reply.raw.trim() ?? ''})`;
}

function configText(milterPort: number, httpPort: number, settings: FloodgateSettings): string {
  const users = settings.users ?? [];
  const auth = users.length > 0 ? `\n  auth:\n    users:\n${users.map((u) => `      - { name: ${u.name}, password_hash: "${u.passwordHash}" }`).join('\n')}` : '';
  // max_delay cuts the shipped 2 s tarpit to 200 ms so that a flood takes seconds.
  return `listen: inet:127.0.0.1:${milterPort}\nrules: rules.yml\nstate_dir: state\nlimits: { max_delay: 200ms }\nmode: ${settings.observe ? 'observe' : 'enforce'}\nhttp:\n  listen: "127.0.0.1:${httpPort}"${auth}\n`;
}

export async function startStatusPageRig(options: StatusPageRigOptions = {}): Promise<StatusPageRig> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-page-'));
  const cli = options.cli ?? FLOODGATE_CLI;
  const configFile = join(dir, 'floodgate.yml');
  let sink: SmtpSink | undefined;
  let postfix: PostfixRig | undefined;
  let floodgate: FloodgateProcess | undefined;
  const stop = async (): Promise<void> => {
    await postfix?.stop();
    await floodgate?.process.kill(15_000);
    await sink?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    sink = await startSmtpSink();
    const milterPort = await freePort();
    const httpPort = await freePort();
    writeFileSync(join(dir, 'rules.yml'), rulesText());
    writeFileSync(configFile, configText(milterPort, httpPort, options));
    floodgate = await startFloodgateProcess(configFile, cli);
    postfix = await startPostfix({ milter: `inet:127.0.0.1:${milterPort}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });
    const smtpPort = postfix.smtpPort;
    const send: StatusPageRig['send'] = async (ip, n, opts = {}) =>
      rcptOutcome(
        await sendMail(smtpPort, {
          helo: opts.helo ?? 'pc.customer.example',
          xclient: `ADDR=${ip} NAME=${opts.name ?? '[UNAVAILABLE]'}`,
          from: opts.from ?? `user${n}@example.org`,
          rcpts: [`friend${n}@example.com`],
        }),
      );
    const rig: StatusPageRig = {
      url: `http://127.0.0.1:${httpPort}`,
      postfix,
      get floodgate() {
        return floodgate!;
      },
      send,
      startFlood(pauseMs = 50) {
        const outcomes: string[] = [];
        let stopping = false;
        const done = (async () => {
          for (let n = 1; !stopping; n++) {
            const opts = { helo: HOSTILE_HELO, name: FLOODER_NAME, ...(n % 3 === 0 ? { from: HOSTILE_SENDER } : {}) };
            // A failed session is an outcome like the others: the caller's assertions show it.
            outcomes.push(await send(FLOODER, n, opts).catch((error: Error) => `error: ${error.message}`));
            await new Promise((r) => setTimeout(r, pauseMs));
          }
          return outcomes;
        })();
        return {
          get sent() {
            return outcomes.length;
          },
          stop() {
            stopping = true;
            return done;
          },
        };
      },
      async restartFloodgate(settings) {
        await floodgate!.stop();
        writeFileSync(configFile, configText(milterPort, httpPort, settings));
        floodgate = await startFloodgateProcess(configFile, cli);
      },
      stop,
    };
    return rig;
  } catch (error) {
    await stop();
    throw error;
  }
}
