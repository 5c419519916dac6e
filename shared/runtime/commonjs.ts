/**
 * The exports of a CommonJS package loaded with import(). Node puts module.exports on `default` (and
 * most names beside it); a bundle's chunk may offer `default` only. Both give module.exports here.
 */
export function commonJsExports<T extends object>(namespace: T): T {
  return (namespace as { default?: T }).default ?? namespace;
}
