// The one order for text the project sorts: by UTF-16 code units. Unlike localeCompare it does not
// depend on the ICU data or locale of the machine, so listings, reports and the ETags computed over them
// come out the same wherever they are produced.

/** Strings by their UTF-16 code units. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
