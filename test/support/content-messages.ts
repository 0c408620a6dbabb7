// Test messages for the content stage, built by nodemailer's MailComposer (real MIME as mail clients write it).
import MailComposer from 'nodemailer/lib/mail-composer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export async function compose(options: ConstructorParameters<typeof MailComposer>[0]): Promise<string> {
  const built = await new MailComposer({ date: new Date(), ...options }).compile().build();
  return built.toString('utf8');
}

/** rules/examples/content.yml with test rules appended to its rules list (the list ends the file). */
export function exampleContentRules(extraRules: string): string {
  const example = readFileSync(join(__dirname, '..', '..', 'rules', 'examples', 'content.yml'), 'utf8');
  return `${example.trimEnd()}\n${extraRules.replace(/^/gm, '  ')}\n`;
}

/** Rules added to the example for the answers it does not use. */
export const EXTRA_CONTENT_RULES = `- name: discard-phrase
  on: eom
  when: { keywords: { phrases: [please-discard-this] } }
  discard: true
- name: hold-phrase
  on: eom
  when: { keywords: { phrases: [please-hold-this] } }
  quarantine: "held by floodgate test"`;

export interface ContentCase {
  name: string;
  subject: string;
  text: string;
}

/** An attached message (message/rfc822) carrying its own .vbs attachment, RFC 2231-encoded name. */
export async function nestedVbsMessage(from: string, to: string): Promise<string> {
  const inner = await compose({
    from, to, subject: 'the inner message', text: 'see attachment',
    attachments: [{ filename: 'Rechnung-März.vbs', content: 'MsgBox "hi"', contentType: 'text/vbscript' }],
  });
  return compose({ from, to, subject: 'forwarded', text: 'forwarded message attached', attachments: [{ filename: 'forwarded.eml', content: inner, contentType: 'message/rfc822' }] });
}
