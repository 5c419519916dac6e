// EventBridge event patterns, for the local stack's event bus: a pattern matches when every field it
// names matches. Leaf arrays list accepted values; objects in them are the content filters pullwarden's
// rules may use (prefix, suffix, anything-but, exists, equals-ignore-case, numeric).

type Filter = Record<string, unknown>;

function scalarMatches(accepted: unknown, actual: unknown, present: boolean): boolean {
  if (accepted === null || typeof accepted !== 'object') return present && accepted === actual;
  const filter = accepted as Filter;
  if ('exists' in filter) return filter.exists === present;
  if (!present) return false;
  if ('prefix' in filter)
    return typeof actual === 'string' && actual.startsWith(String(filter.prefix));
  if ('suffix' in filter)
    return typeof actual === 'string' && actual.endsWith(String(filter.suffix));
  if ('equals-ignore-case' in filter) {
    return (
      typeof actual === 'string' &&
      actual.toLowerCase() === String(filter['equals-ignore-case']).toLowerCase()
    );
  }
  if ('anything-but' in filter) {
    const excluded = filter['anything-but'];
    const list = Array.isArray(excluded) ? excluded : [excluded];
    return !list.some((item) => scalarMatches(item, actual, true));
  }
  if ('numeric' in filter && Array.isArray(filter.numeric) && typeof actual === 'number') {
    const conditions = filter.numeric as unknown[];
    for (let i = 0; i + 1 < conditions.length; i += 2) {
      const bound = Number(conditions[i + 1]);
      const ok = {
        '=': actual === bound,
        '<': actual < bound,
        '<=': actual <= bound,
        '>': actual > bound,
        '>=': actual >= bound,
      }[String(conditions[i])];
      if (ok !== true) return false;
    }
    return true;
  }
  throw new Error(`event pattern filter ${JSON.stringify(filter)} is not supported locally`);
}

export function eventPatternMatches(pattern: Record<string, unknown>, event: unknown): boolean {
  const object = typeof event === 'object' && event !== null ? (event as Filter) : {};
  return Object.entries(pattern).every(([key, accepted]) => {
    const present = Object.hasOwn(object, key);
    const actual = object[key];
    if (Array.isArray(accepted)) {
      const values = Array.isArray(actual) ? actual : [actual];
      if (Array.isArray(actual) && actual.length === 0) {
        return accepted.some((entry) => scalarMatches(entry, undefined, false));
      }
      return accepted.some((entry) => values.some((value) => scalarMatches(entry, value, present)));
    }
    if (typeof accepted === 'object' && accepted !== null) {
      return eventPatternMatches(accepted as Record<string, unknown>, actual);
    }
    throw new Error(`event pattern field ${key} must be an array or an object`);
  });
}
