// Loads a rules file: schema, then every semantic check, then one frozen RuleSet (or one ConfigError listing all problems).
import { readFileSync } from 'node:fs';
import { durationMs } from '../config/duration';
import { ConfigError } from '../config/errors';
import { formatReplyText, type RejectCode, type SmtpReply, type TempfailCode } from '../milter/reply-text';
import { compileWhen, type ConditionScope } from './conditions';
import { compileLists, type NamedList } from './lists';
import { compileReputation, readsByEvent } from './reputation-rules';
import { checkHeaderMark, compileMarks, markKinds } from './message-marks';
import { compileTrackRules } from './track-rules';
import { BASE_KEY_CLASSES, type AlertSettings, type BaseKeyClass, type Facts, type KeyClass, type KeyClassSettings, type MessageNeeds, type Points, type Rule, type RuleAction, type RuleEvent, type RuleSet, type Threshold, type ThresholdAction } from './rule-set';
import { EVENTS, RulesSource, type NodePath, type ReplySpec, type RuleSpec, type RulesFileSpec, type ThresholdSpec } from './schema';

export interface RuleSetOptions {
  /** How long the MTA waits for the milter: Postfix milter_command_timeout (30 s), Sendmail T=R:. */
  mtaTimeoutMs?: number;
  /** Delays are cut to this (the service's limits.max_delay). */
  maxDelayMs?: number;
}
export const DEFAULT_MTA_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_DELAY_MS = 25_000;

const ACTIONS = ['delay', 'tempfail', 'reject', 'discard', 'ok', 'continue'] as const;
/** Used when a reply gives a code but no text: libmilter refuses a reply without text. */
const DEFAULT_TEXT = { tempfail: 'Too much mail, try again later', reject: 'Message refused' } as const;

/** The base classes of a key class, in the order written: 'ip+sender' -> ['ip', 'sender']. */
export function keyClassParts(keyClass: KeyClass): BaseKeyClass[] {
  return keyClass.split('+') as BaseKeyClass[];
}

/** Why a key class name is invalid, or undefined when it is fine. */
export function keyClassProblem(keyClass: string): string | undefined {
  const parts = keyClass.split('+');
  const unknown = parts.find((p) => !(BASE_KEY_CLASSES as readonly string[]).includes(p));
  if (unknown !== undefined) return `key class "${keyClass}" has an unknown part "${unknown}" (parts: ${BASE_KEY_CLASSES.join(', ')}, joined by '+')`;
  const duplicate = parts.find((p, i) => parts.indexOf(p) !== i);
  if (duplicate !== undefined) return `key class "${keyClass}" names "${duplicate}" twice`;
  return undefined;
}

export function loadRuleSet(file: string, opts: RuleSetOptions = {}): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: 0, column: 0, message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  return parseRuleSet(text, file, opts);
}

/** Compiles rules text; `file` names it in messages and anchors relative list files. */
export function parseRuleSet(text: string, file: string, opts: RuleSetOptions = {}): RuleSet {
  const source = new RulesSource(file, text);
  const spec = source.spec;
  const lists = compileLists(spec.lists, source);
  const keyClasses = compileKeyClasses(spec, source);
  const alert = spec.alert && compileAlert(spec.alert, source);
  const reputationLists = compileReputation(spec, source);
  const limits = { mtaTimeoutMs: opts.mtaTimeoutMs ?? DEFAULT_MTA_TIMEOUT_MS, maxDelayMs: opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS };
  const { rules, message, reads, usedLists } = compileRules(spec, source, lists, keyClasses, limits);
  const track = compileTrackRules(spec, source, lists, usedLists, rules);
  const thresholds = compileThresholds(spec, source, alert !== undefined, keyClasses, limits);
  for (const name of Object.keys(spec.lists ?? {})) if (!usedLists.has(name)) source.warn(['lists', name], `list "${name}" is never used`, true);
  warnAboutUse(spec, source, rules);
  source.throwIfFailed();
  const settings = new Map<KeyClass, KeyClassSettings>();
  for (const [name, s] of keyClasses) settings.set(name, { ...s, thresholds: thresholds.get(name) ?? [] });
  const events = new Set<RuleEvent>(EVENTS.filter((e) => rules.some((r) => r.events.has(e))));
  const reputation = { ...reputationLists, reads };
  const ruleSet: RuleSet = { source: file, rules, keyClasses: settings, ...(alert ? { alert } : {}), events, reputation, message: track.length > 0 ? { ...message, headers: true, body: true, parseBody: true } : message, track, warnings: source.formattedWarnings() };
  return deepFreeze(ruleSet);
}

type ClassBase = Omit<KeyClassSettings, 'thresholds'>;

function compileKeyClasses(spec: RulesFileSpec, source: RulesSource): Map<KeyClass, ClassBase> {
  const classes = new Map<KeyClass, ClassBase>();
  for (const [name, s] of Object.entries(spec.keys ?? {})) {
    const problem = keyClassProblem(name);
    if (problem) {
      source.error(['keys', name], problem, true);
      continue;
    }
    if (!keyClassParts(name).includes('network')) {
      for (const field of ['ipv4_prefix', 'ipv6_prefix'] as const) {
        if (s[field] !== undefined) source.error(['keys', name, field], `${field} only applies to key classes with a network part, not "${name}"`, true);
      }
    }
    const halfLifeMs = durationMs(s.half_life);
    // Scores decay by 2^(-t/half_life): zero would divide by zero.
    if (halfLifeMs <= 0) source.error(['keys', name, 'half_life'], 'half_life must be longer than 0');
    classes.set(name, { parts: keyClassParts(name), halfLifeMs, ipv4Prefix: s.ipv4_prefix ?? 24, ipv6Prefix: s.ipv6_prefix ?? 64 });
  }
  return classes;
}

function compileAlert(spec: NonNullable<RulesFileSpec['alert']>, source: RulesSource): AlertSettings {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::([0-9]{1,5}))?$/.exec(spec.relay);
  const port = m?.[3] === undefined ? 25 : Number(m[3]);
  if (!m || port < 1 || port > 65535) source.error(['alert', 'relay'], `relay "${spec.relay}" must be host, host:port or [IPv6]:port`);
  const address = /^[^\s@<>]+@[^\s@<>]+$/;
  if (!address.test(spec.from)) source.error(['alert', 'from'], `"${spec.from}" is not an address`);
  spec.to.forEach((to, i) => address.test(to) || source.error(['alert', 'to', i], `"${to}" is not an address`));
  return { relay: { host: m?.[1] ?? m?.[2] ?? '', port }, from: spec.from, to: [...spec.to], cooldownMs: durationMs(spec.cooldown ?? '1h') };
}

function compileRules(spec: RulesFileSpec, source: RulesSource, lists: Map<string, NamedList>, keyClasses: Map<KeyClass, ClassBase>, limits: DelayLimits) {
  const rules: Rule[] = [];
  const firstAt = new Map<string, number>();
  const usedLists = new Set<string>();
  const messageReads = { headers: false, body: false, parseBody: false };
  const dnsLists = {
    ...(spec.dnsbl ? { dnsbl: new Set(Object.keys(spec.dnsbl)) } : {}),
    ...(spec.rhsbl ? { rhsbl: new Set(Object.keys(spec.rhsbl)) } : {}),
  };
  (spec.rules ?? []).forEach((r, i) => {
    const path = ['rules', i];
    const first = firstAt.get(r.name);
    if (first !== undefined) source.error([...path, 'name'], `duplicate rule name "${r.name}" (first used at line ${source.locate(['rules', first]).line})`);
    else firstAt.set(r.name, i);
    const events = EVENTS.filter((e) => (typeof r.on === 'string' ? [r.on] : r.on).includes(e));
    const scope: ConditionScope = {
      source,
      rule: r.name,
      events,
      lists,
      declaredLists: new Set(Object.keys(spec.lists ?? {})),
      usedLists,
      message: { headers: false, body: false, parseBody: false },
      attachmentFinders: [],
      dnsLists,
      // Declared is enough: a map with a bad type is reported once, at the map.
      hasRecipientMap: spec.recipients !== undefined,
      reads: new Set(),
    };
    const condition = compileWhen(r.when, [...path, 'when'], scope);
    const add = new Map<KeyClass, Points>();
    for (const [keyClass, points] of Object.entries(r.add ?? {})) {
      if (points === 'size_kb') checkSizePoints([...path, 'add', keyClass], scope);
      else if (typeof points === 'string') checkScorePoints(points, [...path, 'add', keyClass], scope);
      if (keyClasses.has(keyClass)) add.set(keyClass, points);
      else if (!(keyClass in (spec.keys ?? {}))) source.error([...path, 'add', keyClass], `key class "${keyClass}" is not declared in keys`, true);
    }
    const ok = r.ok ?? false;
    const action = compileRuleAction(r, path, events, source, limits);
    const marks = compileMarks(r, path, events, source);
    const answers = RULE_ACTIONS.filter((a) => r[a] !== undefined);
    if (!ok && answers.length === 0 && marks === undefined && Object.keys(r.add ?? {}).length === 0) {
      source.error(path, `rule "${r.name}" does nothing: give it add (points), ok: true (allow-list), an answer (delay, tempfail, reject, discard) or a change to the message`);
    }
    messageReads.headers ||= scope.message.headers;
    messageReads.body ||= scope.message.body;
    messageReads.parseBody ||= scope.message.parseBody;
    const finders = scope.attachmentFinders;
    const templateValues = finders.length > 0 ? (f: Facts) => ({ attachment: firstFound(finders, f) }) : undefined;
    if (action && 'reply' in action && action.reply && replyNames(action.reply.text, 'attachment') && !templateValues) {
      source.warn([...path, action.kind], `the reply names {attachment} but rule "${r.name}" has no attachment condition: it stays as written`);
    }
    if (ok && r.add !== undefined) source.warn([...path, 'add'], `rule "${r.name}" has ok: true, so its add is never applied`, true);
    if (ok && action !== undefined) source.error(path, `rule "${r.name}" has ok: true and ${action.kind}: an allow-list rule cannot also refuse`);
    rules.push({
      name: r.name, location: source.locate(path), events: new Set(events), condition, add, ok, ...(action ? { action } : {}), observe: r.observe ?? false, reads: scope.reads,
      ...(marks ? { marks } : {}), ...(templateValues ? { templateValues } : {}),
    });
  });
  const reads = readsByEvent(rules);
  const readAnywhere = new Set([...reads.values()].flatMap((set) => [...set]));
  for (const section of ['dnsbl', 'rhsbl', 'recipients'] as const) {
    const fact = section === 'recipients' ? 'recipient_known' : section;
    // Lists nobody reads would never be queried: almost certainly a rule was forgotten.
    if (spec[section] !== undefined && !readAnywhere.has(fact)) source.warn([section], `${section} is configured but no rule reads ${fact}: it is never used`, true);
  }
  const scan = spec.content ?? {};
  const message: MessageNeeds = {
    headers: messageReads.headers,
    body: messageReads.body,
    parseBody: messageReads.parseBody,
    marks: markKinds(rules),
    scan: {
      ...(scan.max_scan_bytes !== undefined ? { maxScanBytes: scan.max_scan_bytes } : {}),
      ...(scan.max_parts !== undefined ? { maxParts: scan.max_parts } : {}),
      ...(scan.max_depth !== undefined ? { maxDepth: scan.max_depth } : {}),
    },
  };
  if (spec.content !== undefined && !message.headers && !message.body) source.warn(['content'], 'content limits are set but no rule reads the message', true);
  return { rules, message, reads, usedLists };
}

const RULE_ACTIONS = ['delay', 'tempfail', 'reject', 'discard'] as const;

/** A rule's own answer (block-list, tarpit, discard); at most one. */
function compileRuleAction(r: RuleSpec, path: NodePath, events: readonly RuleEvent[], source: RulesSource, limits: DelayLimits): RuleAction | undefined {
  const kinds = RULE_ACTIONS.filter((a) => r[a] !== undefined);
  if (kinds.length > 1) source.error(path, `rule "${r.name}" has ${kinds.join(' and ')}: a rule gives at most one answer`);
  if (kinds.length !== 1) return undefined;
  if (kinds[0] === 'discard' && (events.includes('connect') || events.includes('helo'))) {
    source.error([...path, 'discard'], `discard drops a message, and there is none at connect or helo (rule "${r.name}")`, true);
  }
  return compileAction(kinds[0], r, path, source, limits) as RuleAction | undefined;
}

/** `add: { ip: size_kb }`: the SIZE= declared at mail, the bytes received at eom; nothing else knows a size. */
function checkSizePoints(at: NodePath, scope: ConditionScope): void {
  const unknown = scope.events.filter((e) => e !== 'mail' && e !== 'eom');
  if (unknown.length > 0) scope.source.error(at, `points "size_kb" are known only at mail (the client's SIZE=) and eom, not at ${unknown.join(', ')} (rule "${scope.rule}")`);
  if (scope.events.includes('eom')) scope.message.body = true;
}

function firstFound(finders: ReadonlyArray<(f: Facts) => string | undefined>, f: Facts): string | undefined {
  for (const find of finders) {
    const found = find(f);
    if (found !== undefined) return found;
  }
  return undefined;
}

function replyNames(text: string | readonly string[], name: string): boolean {
  return (typeof text === 'string' ? [text] : text).some((line) => line.includes(`{${name}}`));
}

/** `add: { ip: dnsbl }`: the weighted list score as points; the lists must exist and be known at the rule's events. */
function checkScorePoints(points: 'dnsbl' | 'rhsbl', at: NodePath, scope: ConditionScope): void {
  if (scope.dnsLists[points] === undefined) scope.source.error(at, `points "${points}" need lists in the ${points} section (rule "${scope.rule}")`);
  if (points === 'rhsbl' && scope.events.includes('connect')) scope.source.error(at, `points "rhsbl" are not known at connect: the HELO name and sender come later (rule "${scope.rule}")`);
  scope.reads.add(points);
}

interface DelayLimits {
  mtaTimeoutMs: number;
  maxDelayMs: number;
}

function compileThresholds(spec: RulesFileSpec, source: RulesSource, hasAlert: boolean, keyClasses: Map<KeyClass, ClassBase>, limits: DelayLimits): Map<KeyClass, Threshold[]> {
  const compiled = new Map<KeyClass, Threshold[]>();
  for (const [keyClass, list] of Object.entries(spec.thresholds ?? {})) {
    if (!keyClasses.has(keyClass) && !(keyClass in (spec.keys ?? {}))) source.error(['thresholds', keyClass], `key class "${keyClass}" is not declared in keys`, true);
    const kept: Threshold[] = [];
    const seen = new Map<string, number>();
    list.forEach((t, i) => {
      const path = ['thresholds', keyClass, i];
      const threshold = compileThreshold(t, path, source, hasAlert, limits);
      if (threshold === undefined) return;
      const bound = threshold.above !== undefined ? `above ${threshold.above}` : `below ${threshold.below}`;
      const first = seen.get(bound);
      // Two ranges with one bound: the engine could take either. Keep the first-listed, say so.
      if (first !== undefined) {
        source.warn(path, `threshold ${bound} repeats the bound of line ${source.locate(['thresholds', keyClass, first]).line}: its action (${threshold.action.kind}) is shadowed and never taken`);
        return;
      }
      seen.set(bound, i);
      kept.push(threshold);
    });
    // `below` ranges first, ascending, then `above` ascending: the order the engine scans.
    const rank = (t: Threshold) => (t.below !== undefined ? [0, t.below] : [1, t.above ?? 0]);
    kept.sort((a, b) => rank(a)[0] - rank(b)[0] || rank(a)[1] - rank(b)[1]);
    compiled.set(keyClass, kept);
  }
  return compiled;
}

function compileThreshold(t: ThresholdSpec, path: NodePath, source: RulesSource, hasAlert: boolean, limits: DelayLimits): Threshold | undefined {
  const bounds = (['above', 'below'] as const).filter((b) => t[b] !== undefined);
  if (bounds.length !== 1) source.error(path, bounds.length === 0 ? 'threshold needs "above" or "below"' : 'threshold has both "above" and "below": write two thresholds');
  const actions = ACTIONS.filter((a) => t[a] !== undefined);
  if (actions.length !== 1) {
    source.error(path, actions.length === 0 ? `threshold needs one action: ${ACTIONS.join(', ')}` : `threshold has ${actions.length} actions (${actions.join(', ')}): exactly one is allowed`);
  }
  if (t.mail && !hasAlert) source.error([...path, 'mail'], 'mail: true needs an alert section (relay, from, to)', true);
  if (t.header) checkHeaderMark(t.header, [...path, 'header'], source);
  if (bounds.length !== 1 || actions.length !== 1) return undefined;
  const action = compileAction(actions[0], t, path, source, limits);
  if (action === undefined) return undefined;
  return {
    location: source.locate(path),
    ...(t.above !== undefined ? { above: t.above } : { below: t.below }),
    action,
    log: t.log ?? action.kind !== 'continue',
    mail: t.mail ?? false,
    delete: t.delete ?? false,
    ...(t.header ? { header: { name: t.header.name, value: t.header.value } } : {}),
    observe: t.observe ?? false,
  };
}

function compileAction(kind: (typeof ACTIONS)[number], t: Pick<ThresholdSpec, 'delay' | 'tempfail' | 'reject'>, path: NodePath, source: RulesSource, limits: DelayLimits): ThresholdAction | undefined {
  switch (kind) {
    case 'delay': {
      const ms = durationMs(t.delay ?? 0);
      const effective = Math.min(ms, limits.maxDelayMs);
      const at = [...path, 'delay'];
      if (ms > limits.maxDelayMs) source.warn(at, `delay ${seconds(ms)} exceeds max_delay ${seconds(limits.maxDelayMs)}, it will be cut to ${seconds(effective)}`);
      if (effective >= limits.mtaTimeoutMs) {
        const verb = effective === limits.mtaTimeoutMs ? 'reaches' : 'exceeds';
        source.warn(at, `delay ${seconds(effective)} ${verb} MTA timeout ${seconds(limits.mtaTimeoutMs)}: the MTA gives up on the milter first`);
      }
      return { kind: 'delay', seconds: effective / 1000 };
    }
    case 'tempfail':
    case 'reject': {
      const reply = compileReply(kind, t[kind] as ReplySpec, [...path, kind], source);
      if (reply === null) return undefined;
      return kind === 'tempfail' ? { kind, ...(reply ? { reply: reply as SmtpReply<TempfailCode> } : {}) } : { kind, ...(reply ? { reply: reply as SmtpReply<RejectCode> } : {}) };
    }
    default:
      return { kind };
  }
}

/** undefined: the MTA's default reply; null: invalid (reported). */
function compileReply(kind: 'tempfail' | 'reject', spec: ReplySpec, path: NodePath, source: RulesSource): SmtpReply | undefined | null {
  if (spec === true) return undefined;
  const code = String(spec.code);
  const text = spec.text ?? DEFAULT_TEXT[kind];
  if (typeof text !== 'string' && !(Array.isArray(text) && text.every((line) => typeof line === 'string'))) {
    source.error([...path, 'text'], 'text must be a string or a list of strings');
    return null;
  }
  const wanted = kind === 'tempfail' ? '4' : '5';
  if (code[0] !== wanted) {
    source.error([...path, 'code'], `${kind} code must be ${wanted}xx, not ${code}`);
    return null;
  }
  const reply = { code, ...(spec.ext !== undefined ? { ext: spec.ext } : {}), text } as SmtpReply;
  try {
    formatReplyText(reply);
  } catch (error) {
    const message = (error as Error).message;
    source.error([...path, /^reply code/.test(message) ? 'code' : /^enhanced status/.test(message) ? 'ext' : 'text'], `invalid ${kind} reply: ${message}`);
    return null;
  }
  return reply;
}

/** Warnings about the file as a whole: rules that never run, classes that never count. */
function warnAboutUse(spec: RulesFileSpec, source: RulesSource, rules: readonly Rule[]): void {
  if (rules.length === 0) source.warn(spec.rules ? ['rules'] : [], 'no rules: every message passes unchecked');
  const allowAll: Array<{ rule: Rule; index: number }> = [];
  rules.forEach((rule, index) => {
    for (const earlier of allowAll) {
      const overlap = EVENTS.filter((e) => earlier.rule.events.has(e) && rule.events.has(e));
      if (overlap.length > 0) source.warn(['rules', index], `rule "${rule.name}" is shadowed by allow-list rule "${earlier.rule.name}" (line ${earlier.rule.location.line}), which accepts everything at ${overlap.join(', ')}`);
    }
    const unconditional = spec.rules?.[index].when === undefined || Object.keys(spec.rules[index].when ?? {}).length === 0;
    if (rule.ok && !rule.observe && unconditional) allowAll.push({ rule, index });
  });
  const added = new Set(rules.flatMap((r) => [...r.add.keys()]));
  for (const keyClass of Object.keys(spec.thresholds ?? {})) {
    if (!added.has(keyClass) && keyClass in (spec.keys ?? {})) source.warn(['thresholds', keyClass], `key class "${keyClass}" has thresholds but no rule adds to it: they are never evaluated`, true);
  }
  for (const keyClass of Object.keys(spec.keys ?? {})) {
    if (!added.has(keyClass) && !(keyClass in (spec.thresholds ?? {}))) source.warn(['keys', keyClass], `key class "${keyClass}" is declared but never used`, true);
  }
}

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** Freezes objects, arrays, and the Maps and Sets inside, whose mutators Object.freeze alone leaves working. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const children: unknown[] = Object.values(value);
  if (value instanceof Map || value instanceof Set) {
    for (const method of value instanceof Map ? ['set', 'delete', 'clear'] : ['add', 'delete', 'clear']) {
      Object.defineProperty(value, method, { value: refuseChange, enumerable: false });
    }
    for (const entry of value instanceof Map ? value.values() : value) children.push(entry);
  }
  Object.freeze(value);
  for (const child of children) deepFreeze(child);
  return value;
}

function refuseChange(): never {
  throw new TypeError('the rule set is frozen');
}
