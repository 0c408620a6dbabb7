// Runs Floodgate: loads configuration, starts the milter server, reloads on SIGHUP, drains on SIGTERM.
import { loadServiceConfig, type ServiceConfig } from '../config/service-config';
import { createLogger, type Logger } from '../log/logger';
import { parseListenAddress } from '../server/listen-address';
import { MilterServer, type ServerEvents, type ServerSettings } from '../server/milter-server';
import type { MilterHandler } from '../session/handler';
import { decisionLog } from './decision-log';

export interface ServiceOptions {
  configFile: string | undefined;
  /** Builds the handler from the loaded configuration; called again on every reload. */
  handlerFor: (config: ServiceConfig, logger: Logger) => Promise<MilterHandler>;
  /** Opens what the handler needs (the store) after the configuration is read, before listening. */
  beforeListen?: (config: ServiceConfig, logger: Logger) => Promise<void>;
  /** Told of sessions and connections as well as the log (metrics, the status page). */
  events?: Partial<ServerEvents>;
  logStream?: NodeJS.WritableStream;
}

/** What a reload did: `error` says why the running configuration stays (file:line:column when it is the files'). */
export type ReloadOutcome = { reloaded: true } | { reloaded: false; error: string };

export class FloodgateService {
  private constructor(
    private config: ServiceConfig,
    private readonly logger: Logger,
    private readonly server: MilterServer,
    private readonly options: ServiceOptions,
  ) {}

  /** Loads configuration (throws ConfigError) and listens (throws ListenError). */
  static async start(options: ServiceOptions): Promise<FloodgateService> {
    const config = loadServiceConfig(options.configFile);
    const logger = createLogger(config.log.level, config.log.format, options.logStream);
    const address = parseListenAddress(config.listen);
    await options.beforeListen?.(config, logger);
    const events = options.events ? withEvents(decisionLog(logger), options.events) : decisionLog(logger);
    const server = new MilterServer(address, await options.handlerFor(config, logger), serverSettings(config), events, config.socket);
    await server.listen();
    logger.info('listening', { listen: config.listen, config: config.source, pid: process.pid });
    return new FloodgateService(config, logger, server, options);
  }

  get port(): number {
    return this.server.port;
  }

  get connectionCount(): number {
    return this.server.connectionCount;
  }

  get delayingCount(): number {
    return this.server.delayingCount;
  }

  /** The address the service listens on, as configured (a change needs a restart). */
  get listen(): string {
    return this.config.listen;
  }

  /**
   * Re-reads the configuration. A broken file keeps the running settings and logs why; a changed
   * listen address or socket needs a restart, which is logged too.
   */
  reload(): Promise<ReloadOutcome> {
    // One at a time: two quick SIGHUPs must not race to install their handlers out of order.
    const done = this.reloading.then(() => this.reloadNow());
    this.reloading = done.catch(() => undefined);
    return done;
  }

  private reloading: Promise<unknown> = Promise.resolve();

  private async reloadNow(): Promise<ReloadOutcome> {
    let next: ServiceConfig;
    let handler: MilterHandler;
    try {
      next = loadServiceConfig(this.options.configFile);
      handler = await this.options.handlerFor(next, this.logger);
    } catch (error) {
      this.logger.error('reload failed, keeping the running configuration', { code: (error as { code?: string }).code, error: (error as Error).message });
      return { reloaded: false, error: (error as Error).message };
    }
    if (next.listen !== this.config.listen || JSON.stringify(next.socket) !== JSON.stringify(this.config.socket)) {
      this.logger.warn('listen address or socket settings changed: restart to apply them', { running: this.config.listen, configured: next.listen });
    }
    this.logger.level = next.log.level;
    this.server.reconfigure(handler, serverSettings(next));
    this.config = { ...next, listen: this.config.listen, socket: this.config.socket, http: this.config.http };
    if (httpSettingsText(next) !== httpSettingsText(this.config)) this.logger.warn('http settings changed: restart to apply them');
    this.logger.info('configuration reloaded', { config: next.source });
    return { reloaded: true };
  }

  get log(): Logger {
    return this.logger;
  }

  /** Drains the MTA connections; the caller closes what it opened, then calls finish(). */
  async stop(): Promise<void> {
    this.logger.info('shutting down', { connections: this.server.connectionCount, grace_ms: this.config.shutdownGraceMs });
    await this.server.close(this.config.shutdownGraceMs);
  }

  async finish(): Promise<void> {
    this.logger.info('stopped');
    await new Promise<void>((resolve) => {
      this.logger.once('finish', () => resolve());
      this.logger.end();
      setTimeout(resolve, 500).unref();
    });
  }
}

function httpSettingsText(config: ServiceConfig): string {
  const { listen, auth } = config.http;
  return JSON.stringify({ listen, tokens: auth?.tokens, users: auth ? [...auth.users] : undefined });
}

/** The log's events, each also told to `extra` (which sees every call after the log). */
function withEvents(log: ServerEvents, extra: Partial<ServerEvents>): ServerEvents {
  return {
    negotiated: (...args) => log.negotiated?.(...args),
    decision: (...args) => {
      log.decision(...args);
      extra.decision?.(...args);
    },
    handlerError: (...args) => {
      log.handlerError(...args);
      extra.handlerError?.(...args);
    },
    protocolError: (...args) => {
      log.protocolError(...args);
      extra.protocolError?.(...args);
    },
    connectionRefused: (...args) => {
      log.connectionRefused(...args);
      extra.connectionRefused?.(...args);
    },
    connectionAccepted: () => extra.connectionAccepted?.(),
    nativeUnavailable: (...args) => log.nativeUnavailable?.(...args),
  };
}

function serverSettings(config: ServiceConfig): ServerSettings {
  const failDecision = { tempfail: { kind: 'tempfail' }, accept: { kind: 'accept' }, continue: { kind: 'continue' } }[config.onHandlerError] as ServerSettings['session']['failDecision'];
  return {
    maxConnections: config.maxConnections,
    tcpQuickAck: config.tcpQuickAck,
    limits: { maxFrameBytes: config.maxFrameBytes, frameTimeoutMs: config.frameTimeoutMs, idleTimeoutMs: config.idleTimeoutMs },
    session: { failDecision, maxDelayMs: config.maxDelayMs, progressIntervalMs: config.progressIntervalMs },
  };
}
