// Replay speed and memory: a generated Postfix log of 1,000,000 lines (and 3,000,000, to show that
// memory follows the sessions open at once, not the file's size) through the shipped rules.
//
// Run (compile as for the other benchmarks):
//   npx tsc -p tsconfig.json --outDir bench/results/tmp && node bench/results/tmp/bench/replay/replay-bench.js [lines...]
// Each size is generated into a temporary file, then replayed in a child process of its own, so
// that its peak RSS (getrusage maxrss) is the replay's alone. Prints figures; asserts nothing.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadRuleSet } from '../../src/rules/loader';
import { replayMailLogs } from '../../src/replay/replay';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');
function stamp(ms: number): string {
  const d = new Date(ms);
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * A busy MX: a session every 100 ms from 5,000 customer addresses, 1-3 recipients each, one
 * recipient in 20 refused by Postfix (unknown user), every tenth session from one flooding client;
 * each message's delivery lines come three sessions later, interleaved as in a real log.
 */
async function generate(path: string, lines: number): Promise<void> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  const pending: string[][] = [];
  let time = new Date('2026-11-30T00:00:00').getTime();
  let buffer: string[] = [];
  const write = async (text: string[]) => {
    buffer.push(...text);
    written += text.length;
    if (buffer.length >= 5000) {
      if (!out.write(buffer.join('\n') + '\n')) await once(out, 'drain');
      buffer = [];
    }
  };
  for (let i = 0; written < lines; i++) {
    time += 100;
    const s = stamp(time);
    // Each customer address has its own sender: the keys (ip, network, sender, ip+sender) stay as many
    // as the customers, so the store's size does not follow the file's length.
    const customer = (i * 7) % 5000;
    const ip = i % 10 === 0 ? '198.51.100.66' : `10.0.${customer >> 8}.${customer & 255}`;
    const sender = i % 10 === 0 ? 'flood@example.net' : `user${customer}@example.org`;
    const pid = 1000 + (i % 50);
    const qid = `Q${i.toString(16).toUpperCase().padStart(9, '0')}`;
    const rcpts = 1 + (i % 3);
    const session = [`${s} mx postfix/smtpd[${pid}]: connect from unknown[${ip}]`, `${s} mx postfix/smtpd[${pid}]: ${qid}: client=unknown[${ip}]`];
    if (i % 20 === 0) session.push(`${s} mx postfix/smtpd[${pid}]: ${qid}: reject: RCPT from unknown[${ip}]: 550 5.1.1 <nobody${i}@example.com>: Recipient address rejected: User unknown; from=<${sender}> to=<nobody${i}@example.com> proto=ESMTP helo=<pc${i % 97}.example.net>`);
    session.push(
      `${s} mx postfix/cleanup[77]: ${qid}: message-id=<${i}@example.org>`,
      `${s} mx postfix/qmgr[66]: ${qid}: from=<${sender}>, size=${2000 + (i % 5000)}, nrcpt=${rcpts} (queue active)`,
      `${s} mx postfix/smtpd[${pid}]: disconnect from unknown[${ip}] ehlo=1 mail=1 rcpt=${rcpts} data=1 quit=1 commands=${4 + rcpts}`,
    );
    await write(session);
    const delivery: string[] = [];
    for (let r = 0; r < rcpts; r++) delivery.push(`${s} mx postfix/smtp[88]: ${qid}: to=<friend${(i + r) % 1000}@example.com>, relay=mx.example.com[192.0.2.25]:25, delay=0.2, delays=0.1/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok)`);
    delivery.push(`${s} mx postfix/qmgr[66]: ${qid}: removed`);
    pending.push(delivery);
    if (pending.length > 3) await write(pending.shift()!);
  }
  for (const rest of pending) await write(rest);
  out.write(buffer.length ? buffer.join('\n') + '\n' : '');
  out.end();
  await once(out, 'finish');
}

/** The child: replays one file and prints its figures as JSON. */
async function replayOne(path: string): Promise<void> {
  // Compiled to bench/results/tmp/bench/replay: five levels below the repository.
  const ruleSet = loadRuleSet(join(__dirname, '..', '..', '..', '..', '..', 'rules', 'default.yml'));
  let maxOpen = 0;
  const started = performance.now();
  const report = await replayMailLogs({ files: [path], ruleSet, onProgress: (open) => void (maxOpen = Math.max(maxOpen, open)) });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({
    lines: report.input.lines, seconds, linesPerSecond: Math.round(report.input.lines / seconds), sessions: report.sessions,
    maxOpenSessions: maxOpen, peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    answers: report.answers, skipped: report.input.skipped,
  }) + '\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--replay') return replayOne(process.argv[3]!);
  const sizes = process.argv.slice(2).map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'fg-replay-bench-'));
  try {
    for (const lines of sizes.length ? sizes : [1_000_000, 3_000_000]) {
      const path = join(dir, `mail-${lines}.log`);
      const t = performance.now();
      await generate(path, lines);
      console.log(`generated ${lines} lines (${(statSync(path).size / 1_048_576).toFixed(0)} MiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      // The V8 flags of the `floodgate` command (src/cli/main.ts's first line).
      const child = spawnSync(process.execPath, ['--max-semi-space-size=8', '--heap-growing-percent=20', __filename, '--replay', path], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (child.status !== 0) throw new Error(`replay of ${path} failed: ${child.stderr}`);
      console.log(child.stdout.trim());
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
