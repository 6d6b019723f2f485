// --help pages from the option table, wrapped to a width (the terminal's, or 80 off a terminal).
import { optionSpec, optionsOf, type CommandName } from './option-table.js';

export interface HelpPage {
  /** Synopsis lines, `Usage: ` added to the first; wrapped between bracketed groups only. */
  usage: readonly string[];
  /** Paragraphs separated by blank lines; reflowed to the width. */
  about: string;
  /** The commands whose options are listed. */
  commands: readonly CommandName[];
  /** Two-column sections after the options' (Commands, Examples). */
  sections?: readonly { title: string; rows: readonly (readonly [string, string])[]; before?: true }[];
}

/** The width to wrap help to: the terminal's columns, else 80 (a pipe, a file). */
export function helpWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  return stream.isTTY && stream.columns ? Math.max(40, stream.columns) : 80;
}

/** Greedy word wrap; `indent` starts every line after the first. A word longer than the width stays whole. */
export function wrap(words: readonly string[], width: number, indent = ''): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Words split at spaces outside brackets: `[--target <port | host:port>]` and `[default: on]` stay
 * one piece, unless the piece is wider than `width` on its own.
 */
function groupedWords(text: string, width: number, open = '[<', close = ']>'): string[] {
  const words: string[] = [];
  let depth = 0;
  let word = '';
  for (const ch of text) {
    if (ch === ' ' && depth === 0) {
      if (word) words.push(word);
      word = '';
      continue;
    }
    if (open.includes(ch)) depth++;
    if (close.includes(ch)) depth = Math.max(0, depth - 1);
    word += ch;
  }
  if (word) words.push(word);
  return words.flatMap((w) => (w.length > width ? w.split(' ') : [w]));
}

/** Rows of `  left  right`, the right column wrapped beside the left, or under it when the width leaves too little. */
export function formatRows(rows: readonly (readonly [string, string])[], width: number): string[] {
  const left = Math.max(...rows.map(([l]) => l.length)) + 2;
  const beside = width - 2 - left >= 30;
  return rows.flatMap(([l, r]) => {
    if (!r) return [`  ${l}`];
    const right = beside ? width - 2 - left : width - 8;
    const words = groupedWords(r, right, '[', ']');
    if (beside) return wrap(words, right).map((line, i) => (i === 0 ? `  ${l.padEnd(left)}${line}` : `  ${' '.repeat(left)}${line}`));
    const lead = /^ */.exec(l)![0];
    return [...wrap(groupedWords(l, width - 6), width - 2 - lead.length, '    ').map((line) => `  ${lead}${line}`), ...wrap(words, right).map((line) => `        ${line}`)];
  });
}

/** One option's help row for a command. */
export function optionRow(name: string, command: CommandName): [string, string] {
  const spec = optionSpec(name as Parameters<typeof optionSpec>[0]);
  const variant = spec.in?.[command];
  const value = spec.choices ? `<${spec.choices.join('|')}>` : spec.value;
  const fallback = variant ? variant.default : spec.default;
  const text = [variant?.help ?? spec.help, spec.secret && spec.env ? `(or ${spec.env}, kept out of ps)` : '', fallback ? `[default: ${fallback}]` : ''].filter(Boolean).join(' ');
  return [`${spec.short ? `-${spec.short}, ` : '    '}--${name}${value ? ` ${value}` : ''}`, text];
}

export function formatHelp(page: HelpPage, width: number): string {
  const lines = page.usage.flatMap((u, i) => wrap(groupedWords(u, width - 17), width - 7, ' '.repeat(10)).map((line, j) => `${i === 0 && j === 0 ? 'Usage: ' : '       '}${line}`));
  for (const paragraph of page.about.split(/\n\s*\n/)) lines.push('', ...wrap(paragraph.split(/\s+/).filter(Boolean), width));
  const section = (s: NonNullable<HelpPage['sections']>[number]) => lines.push('', `${s.title}:`, ...formatRows(s.rows, width));
  for (const s of page.sections ?? []) if (s.before) section(s);
  const command = page.commands[0]!;
  lines.push('', 'Options:', ...formatRows(optionsOf(page.commands).map((n) => optionRow(n, command)), width));
  for (const s of page.sections ?? []) if (!s.before) section(s);
  return lines.join('\n') + '\n';
}
