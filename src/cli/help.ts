// The --help pages: each command's prose and its options from the table, wrapped to a width (the
// terminal's, or 80 off a terminal). Loaded only to print help.
import { optionSpec, optionsOf, SUBCOMMANDS, type CommandName } from './option-table.js';

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
    return [
      ...wrap(groupedWords(l, width - 6), width - 2 - lead.length, '    ').map((line) => `  ${lead}${line}`),
      ...wrap(words, right).map((line) => `        ${line}`),
    ];
  });
}

/** One option's help row for a command. */
export function optionRow(name: string, command: CommandName): [string, string] {
  const spec = optionSpec(name as Parameters<typeof optionSpec>[0]);
  const variant = spec.in?.[command];
  const value = spec.choices ? `<${spec.choices.join('|')}>` : spec.value;
  const fallback = variant ? variant.default : spec.default;
  const text = [
    variant?.help ?? spec.help,
    spec.secret && spec.env ? `(or ${spec.env}, kept out of ps)` : '',
    fallback ? `[default: ${fallback}]` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return [`${spec.short ? `-${spec.short}, ` : '    '}--${name}${value ? ` ${value}` : ''}`, text];
}

export function formatHelp(page: HelpPage, width: number): string {
  const lines = page.usage.flatMap((u, i) =>
    wrap(groupedWords(u, width - 17), width - 7, ' '.repeat(10)).map((line, j) => `${i === 0 && j === 0 ? 'Usage: ' : '       '}${line}`),
  );
  for (const paragraph of page.about.split(/\n\s*\n/)) lines.push('', ...wrap(paragraph.split(/\s+/).filter(Boolean), width));
  const section = (s: NonNullable<HelpPage['sections']>[number]) => lines.push('', `${s.title}:`, ...formatRows(s.rows, width));
  for (const s of page.sections ?? []) if (s.before) section(s);
  const command = page.commands[0]!;
  lines.push(
    '',
    'Options:',
    ...formatRows(
      optionsOf(page.commands).map((n) => optionRow(n, command)),
      width,
    ),
  );
  for (const s of page.sections ?? []) if (!s.before) section(s);
  return lines.join('\n') + '\n';
}

// The pages: what each command does, in prose; their options come from the table.
const RUN_HELP: HelpPage = {
  usage: ['dev-https [--target <port | host:port | http://host:port>] [options] [-- <app command>]'],
  about: `HTTPS for your plain-HTTP development app: a cached certificate, a reverse proxy that sets
X-Forwarded-Proto (and the other forwarded headers), and an optional plain-HTTP listener.
Without --target, a built-in demo app shows what your app would receive. After --, the command
that starts your app: dev-https runs it, waits for it, and stops it with Ctrl-C.
Settings also come from dev-https.config.json, a "dev-https" key in package.json and
DEV_HTTPS_<OPTION> variables (flags > environment > config file).

The config file may name the command of each app ("run" next to "target", and in each route:
{ "/api": { "target": 8000, "run": "python manage.py runserver 8000" } }); as anyone's repository
may hold one, dev-https starts them only with --run (or DEV_HTTPS_RUN=1).`,
  commands: ['run'],
  sections: [
    { title: 'Commands', rows: SUBCOMMANDS.map((c) => [c.usage, c.summary] as const), before: true },
    {
      title: 'Examples',
      rows: [
        ['dev-https', 'Serve the demo app on https://localhost:8443/'],
        ['dev-https --target 8000 --http-port 8080', 'Your app on port 8000 over HTTPS (8443) and HTTP (8080)'],
        ['dev-https -t 8000 -- python manage.py runserver 8000', 'Start the app too, and stop it with Ctrl-C'],
        ['dev-https --run', 'Start the apps the config file names, each line prefixed by its route'],
      ],
    },
  ],
};

const TRUST_HELP: HelpPage = {
  usage: [
    'dev-https trust [--store system,nss,macos,windows,java] [--check]',
    'dev-https untrust [--store <list>]',
    'dev-https doctor [--store <list>]',
  ],
  about: `trust adds the local dev-https CA (created on first need in $DEV_HTTPS_CAROOT, or
~/.local/share/dev-https) to the trust stores present: the Linux system store, NSS databases
(Chrome, Chromium, Firefox; needs certutil), the macOS system keychain, the Windows user root
store and Java's cacerts (with JAVA_HOME). It says what it will change first, and uses sudo only
for stores that need root. untrust removes exactly those entries. --check (or doctor) reports,
store by store, whether the current CA is trusted; exit code 1 when it is not everywhere.`,
  commands: ['trust', 'untrust', 'doctor'],
};

const CERT_HELP: HelpPage = {
  usage: ['dev-https cert [--json] [--cert-dir <dir>] [--name <name>...] [--host <address>]'],
  about: `Prints the certificate dev-https serves with these options (creating it if needed): its CA, the
certificate and key paths, names, expiry, fingerprint, where the CA is trusted, and how Node,
curl and Python clients trust it.`,
  commands: ['cert'],
};

const CHECK_HELP: HelpPage = {
  usage: ['dev-https check --target <port | host:port | http://host:port> [--path <path>...] [--json]'],
  about: `Audits a running app's production security settings from the outside: starts temporary HTTPS and
HTTP listeners on free ports, requests each path over both schemes and rates the redirect to HTTPS,
redirect loops, HSTS, cookies, security headers and mixed content. Security headers and mixed
content are rated on the page the HTTPS redirects lead to, never on a redirect; the report says
when no page was reached. Exit code 1 when an essential item (redirect, loop, HSTS, Secure
cookies) fails.`,
  commands: ['check'],
};

export type HelpPageName = 'run' | 'check' | 'trust' | 'cert';

/** The text of a help page, wrapped to the terminal. */
export function helpText(page: HelpPageName, width = helpWidth()): string {
  return formatHelp({ run: RUN_HELP, check: CHECK_HELP, trust: TRUST_HELP, cert: CERT_HELP }[page], width);
}
