import { RULE_IDS, type RuleId } from '#shared/drift/model.ts';
import { commaValues, oneOf } from './io.ts';

// Rule options of the commands that filter findings. Apart from io.ts, which every command of both
// binaries loads, so that the others (the kubelet's credential provider above all) do not load the
// drift vocabulary.

/** `--rule PW001,PW003 --rule pw005` → the rule ids, each checked. */
export function ruleList(values: readonly string[] | undefined, option: string): RuleId[] {
  return commaValues(values).map((part) => oneOf(RULE_IDS, part.toUpperCase(), option));
}
