// Mails the postmaster when a threshold with `mail: true` fires, at most once per key per cooldown.
import { createTransport, type Transporter } from 'nodemailer';
import type { AlertSettings } from '../rules/rule-set';

export interface Alert {
  key: string;
  score: number;
  action: string;
  rules: string[];
  client?: string;
  sender?: string;
}

export interface AlertSink {
  /** Returns false when the key is still in its cooldown and nothing was sent. */
  alert(alert: Alert, now: number): boolean;
}

/** Remembers the last alert per key; entries older than the cooldown are pruned as new ones arrive. */
export class Alerter implements AlertSink {
  private readonly lastSent = new Map<string, number>();
  private readonly transport: Transporter;

  constructor(
    private readonly settings: AlertSettings,
    private readonly onError: (error: Error, alert: Alert) => void,
  ) {
    // A local relay without TLS or auth is the normal set-up; alerts must not wait on certificates.
    this.transport = createTransport({ host: settings.relay.host, port: settings.relay.port, secure: false, ignoreTLS: true, connectionTimeout: 10_000 });
  }

  alert(alert: Alert, now: number): boolean {
    const last = this.lastSent.get(alert.key);
    if (last !== undefined && now - last < this.settings.cooldownMs) return false;
    this.lastSent.set(alert.key, now);
    if (this.lastSent.size > 10_000) this.prune(now);
    // Sent in the background: an SMTP session never waits for the alert relay.
    this.transport
      .sendMail({
        from: this.settings.from,
        to: [...this.settings.to],
        subject: `[floodgate] ${alert.action} for ${alert.key} (score ${alert.score.toFixed(1)})`,
        text: [
          `Floodgate applied "${alert.action}" to ${alert.key}.`,
          `Score: ${alert.score.toFixed(2)}`,
          `Rules: ${alert.rules.join(', ')}`,
          alert.client ? `Client: ${alert.client}` : '',
          alert.sender !== undefined ? `Sender: <${alert.sender}>` : '',
          '',
          `Further alerts for this key are held for ${Math.round(this.settings.cooldownMs / 1000)} s.`,
          `Reset the key with: floodgate scores reset '${alert.key}'`,
        ]
          .filter((line, i, all) => line !== '' || i === all.length - 3)
          .join('\n'),
      })
      .catch((error: Error) => this.onError(error, alert));
    return true;
  }

  close(): void {
    this.transport.close();
  }

  private prune(now: number): void {
    for (const [key, at] of this.lastSent) if (now - at >= this.settings.cooldownMs) this.lastSent.delete(key);
  }
}
