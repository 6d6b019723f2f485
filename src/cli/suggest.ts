// "Did you mean": the known names closest to a mistyped one, for unknown options and commands.

/** Optimal string alignment distance: Levenshtein plus swapping two neighbours (prot → port is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidates `given` (3 characters or more) begins, else the nearest: 1 edit away, 2 for a
 * word of 5 characters or more, and more alike than not (so `foo` is not taken for `log`).
 * Several equally near are all returned, in their own order.
 */
export function closest(given: string, candidates: readonly string[]): string[] {
  const word = given.toLowerCase();
  const prefixed = word.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(word) && c.toLowerCase() !== word) : [];
  if (prefixed.length) return prefixed;
  const most = word.length >= 5 ? 2 : 1;
  const scored = candidates
    .map((c) => ({ c, d: editDistance(word, c.toLowerCase()) }))
    .filter(({ c, d }) => d <= most && (c.length - d) / c.length > 0.4);
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.c);
}

/** `a`, `a or b`, `a, b or c`. */
export function alternatives(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}
