// `floodgate check-rules`: loads a rules file exactly as the service does and reports what it found.
import { ConfigError, formatProblem } from '../config/errors';
import { DEFAULT_MAX_DELAY_MS, DEFAULT_MTA_TIMEOUT_MS, loadRuleSet, type RuleSetOptions } from '../rules/loader';
import type { RuleSet } from '../rules/rule-set';
import { loadRecipientMap } from '../recipients/map-source';
import { RecipientMapError } from '../recipients/recipient-map';

export interface CheckRulesOptions extends RuleSetOptions {
  /** Treat warnings as failures (for CI and package hooks). */
  strict?: boolean;
}

/** sysexits.h: EX_CONFIG. */
export const EXIT_CONFIG = 78;
/** Loaded, but with warnings, and --strict was given. */
export const EXIT_WARNINGS = 2;

/**
 * Returns the exit code: 0 loaded, 2 warnings under strict, 78 errors (one per line on `err`). The
 * recipient map is loaded too: a map the service could not load would stop it just the same.
 */
export async function checkRules(file: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, opts: CheckRulesOptions = {}): Promise<number> {
  let ruleSet: RuleSet;
  try {
    ruleSet = loadRuleSet(file, opts);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) err.write(`${formatProblem(problem)}\n`);
    return EXIT_CONFIG;
  }
  const classes = [...ruleSet.keyClasses.values()];
  const thresholds = classes.reduce((n, c) => n + c.thresholds.length, 0);
  const events = ruleSet.events.size > 0 ? [...ruleSet.events].join(', ') : 'none';
  out.write(`OK: ${ruleSet.rules.length} rules, ${classes.length} key classes, ${thresholds} thresholds; events: ${events}\n`);
  for (const line of delayReport(ruleSet, opts)) out.write(`${line}\n`);
  const warnings = [...ruleSet.warnings];
  const map = ruleSet.reputation.recipients;
  if (map) {
    try {
      const loaded = await loadRecipientMap({ path: map.path, type: map.type, delimiter: map.delimiter, domains: [...map.domains], ...(map.postfixConfig ? { configDir: map.postfixConfig } : {}) });
      out.write(`recipient map ${map.type}:${map.path}: ${loaded.map.size} entries, domains ${[...loaded.map.domains].join(', ') || 'none'}\n`);
      warnings.push(...loaded.warnings.map((w) => `${map.path}: warning: ${w}`));
    } catch (error) {
      if (!(error instanceof RecipientMapError)) throw error;
      err.write(`${error.message}\n`);
      return EXIT_CONFIG;
    }
  }
  for (const warning of warnings) out.write(`${warning}\n`);
  return opts.strict && warnings.length > 0 ? EXIT_WARNINGS : 0;
}

/** Lesson 3 of the product brief: a delay the MTA will not wait for is useless, so show both figures. */
function delayReport(ruleSet: RuleSet, opts: RuleSetOptions): string[] {
  const maxDelay = (opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS) / 1000;
  const timeout = (opts.mtaTimeoutMs ?? DEFAULT_MTA_TIMEOUT_MS) / 1000;
  const lines: string[] = [];
  for (const rule of ruleSet.rules) {
    if (rule.action?.kind !== 'delay') continue;
    const where = `${rule.location.file}:${rule.location.line}:${rule.location.column}`;
    lines.push(`${where}: delay rule ${rule.name}: effective ${rule.action.seconds}s (max_delay ${maxDelay}s), MTA timeout ${timeout}s`);
  }
  for (const [keyClass, settings] of ruleSet.keyClasses) {
    for (const t of settings.thresholds) {
      if (t.action.kind !== 'delay') continue;
      const bound = t.above !== undefined ? `above ${t.above}` : `below ${t.below}`;
      const where = `${t.location.file}:${t.location.line}:${t.location.column}`;
      lines.push(`${where}: delay ${keyClass} ${bound}: effective ${t.action.seconds}s (max_delay ${maxDelay}s), MTA timeout ${timeout}s`);
    }
  }
  return lines;
}
