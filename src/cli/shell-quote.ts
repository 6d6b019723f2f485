// A command line as a POSIX shell needs it typed: the words of a command that ran without a
// shell (spawn's argv), shown so that copying it into a terminal runs the same thing.

/** Characters no POSIX shell treats specially anywhere in a word. */
const PLAIN = /^[A-Za-z0-9_\-.,:/@%+=]+$/;

/**
 * One word, quoted only when it needs it: single quotes, and `'\''` for a quote inside.
 * In the first word `=` is quoted too, or the shell would take `A=1` for an assignment.
 */
export function quoteShellWord(word: string, first = false): string {
  if (PLAIN.test(word) && !(first && word.includes('='))) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The words joined by spaces, each quoted as a shell would need it. */
export function formatShellCommand(words: readonly string[]): string {
  return words.map((word, i) => quoteShellWord(word, i === 0)).join(' ');
}
