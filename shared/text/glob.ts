// Shell-style globs for names in configuration: `*` matches any run of characters, `?` one character.
// Everything else is literal, so names such as `prod.eu` need no escaping.

const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let compiled = cache.get(glob);
  if (compiled === undefined) {
    let source = '^';
    for (const char of glob) {
      if (char === '*') source += '.*';
      else if (char === '?') source += '.';
      else source += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
    compiled = new RegExp(`${source}$`, 'u');
    cache.set(glob, compiled);
  }
  return compiled;
}

export function globMatches(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

/** True when any of `globs` matches `value`. */
export function matchesAnyGlob(globs: readonly string[], value: string): boolean {
  for (const glob of globs) if (globMatches(glob, value)) return true;
  return false;
}
