// The end-to-end tests' usual set-up: a capturing SMTP sink, the built Floodgate on a free port with
// the settings the test gives, and a private Postfix relaying through it to the sink; and its tear-down.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFloodgateProcess, type FloodgateProcess, type LaunchOptions } from './floodgate-process';
import { freePort } from './ports';
import { startPostfix, type PostfixRig } from './postfix-rig';
import { killAllTracked } from './processes';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

export interface FloodgateBehindPostfix {
  sink: SmtpSink;
  postfix: PostfixRig;
  floodgate: FloodgateProcess;
  /** dir/floodgate.yml: `listen` and `state_dir: state` (relative to dir), then the test's settings. */
  configFile: string;
  milterPort: number;
}

export interface BehindPostfixOptions extends LaunchOptions {
  /** A sink the test started first (its port in the rules, e.g. as the alert relay). */
  sink?: SmtpSink;
}

/**
 * `settings`: floodgate.yml lines after listen and state_dir (rules, limits, http, tracking...).
 * Postfix applies milter_default_action tempfail when Floodgate is gone (Debian 12's default).
 */
export async function startFloodgateBehindPostfix(dir: string, settings: string, options: BehindPostfixOptions = {}): Promise<FloodgateBehindPostfix> {
  const { sink: given, ...launch } = options;
  const sink = given ?? (await startSmtpSink());
  try {
    const milterPort = await freePort();
    const configFile = join(dir, 'floodgate.yml');
    writeFileSync(configFile, `listen: inet:127.0.0.1:${milterPort}\nstate_dir: state\n${settings}`);
    const floodgate = await startFloodgateProcess(configFile, undefined, launch);
    const postfix = await startPostfix({ milter: `inet:127.0.0.1:${milterPort}`, relayPort: sink.port, milterDefaultAction: 'tempfail' });
    return { sink, postfix, floodgate, configFile, milterPort };
  } catch (error) {
    // The caller gets no rig to stop: what started is stopped here (Floodgate by the caller's killAllTracked).
    await sink.close();
    throw error;
  }
}

/** Stops Postfix, every process the test started (by PID), the sink, and removes dir; safe after a failed start. */
export async function stopFloodgateBehindPostfix(rig: Partial<FloodgateBehindPostfix> | undefined, dir: string): Promise<void> {
  await rig?.postfix?.stop();
  await killAllTracked();
  await rig?.sink?.close();
  rmSync(dir, { recursive: true, force: true });
}
