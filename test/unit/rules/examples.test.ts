// Every example rules file under rules/examples loads without errors or warnings (CI runs check-rules on them too).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../../../src/rules/loader';

const EXAMPLES = join(__dirname, '..', '..', '..', 'rules', 'examples');

test.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.yml')))('rules/examples/%s loads cleanly', (file) => {
  const ruleSet = loadRuleSet(join(EXAMPLES, file));
  expect(ruleSet.warnings).toEqual([]);
  expect(ruleSet.rules.length).toBeGreaterThan(0);
});

test('content.yml asks for the body and for the rights its changes need', () => {
  const ruleSet = loadRuleSet(join(EXAMPLES, 'content.yml'));
  expect(ruleSet.message).toMatchObject({ headers: true, body: true });
  expect([...ruleSet.message.marks].sort()).toEqual(['header', 'redirect', 'subject_prefix']);
});
