// Counts in sentences.

/** `1 pod`, `3 pods`; `pluralNoun` for words that do not take an s. */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`;
}
