// Shell quoting of the app command as dev-https prints it: each case is checked against a real
// `sh`, which must split the quoted text back into exactly the original words.
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { formatShellCommand, quoteShellWord } from '../../src/cli/shell-quote.js';

const CASES: Array<[string[], string]> = [
  [['python3', 'manage.py', 'runserver', '8000'], 'python3 manage.py runserver 8000'],
  [['python3', '-c', 'import time; time.sleep(1)'], "python3 -c 'import time; time.sleep(1)'"],
  [['node', '-e', "process.kill(process.pid, 'SIGKILL')"], `node -e 'process.kill(process.pid, '\\''SIGKILL'\\'')'`],
  [['/usr/bin/env', 'PORT=8000', 'npm', 'run', 'dev'], '/usr/bin/env PORT=8000 npm run dev'],
  [['A=1', 'x'], "'A=1' x"],
  [['echo', ''], "echo ''"],
  [
    ['echo', '$HOME', '`id`', '"q"', '*', '~', '#', 'a\\b', '!', '{a,b}', 'semi;colon', 'a&b', 'pipe|x', '(x)', '<in', '>out'],
    `echo '$HOME' '\`id\`' '"q"' '*' '~' '#' 'a\\b' '!' '{a,b}' 'semi;colon' 'a&b' 'pipe|x' '(x)' '<in' '>out'`,
  ],
  [['echo', 'two\nlines', 'tab\there'], "echo 'two\nlines' 'tab\there'"],
  [['printf', "it's"], `printf 'it'\\''s'`],
  [['ls', '--color=auto', '-la', 'a.b/c-d_e,f:g@h%i+j'], 'ls --color=auto -la a.b/c-d_e,f:g@h%i+j'],
  [['café'], "'café'"],
];

describe('formatShellCommand', () => {
  test.each(CASES)('%j → %s', (words, text) => {
    expect(formatShellCommand(words)).toBe(text);
  });

  test.each(CASES)('sh splits the quoted %j back into the same words', (words) => {
    // `set --` takes the words as a shell would; the script prints each NUL-terminated.
    const out = execFileSync('sh', ['-c', `set -- ${formatShellCommand(words)}; for w in "$@"; do printf '%s\\0' "$w"; done`], {
      encoding: 'utf8',
    });
    expect(out.split('\0').slice(0, -1)).toEqual(words);
  });
});

describe('quoteShellWord', () => {
  test.each<[string, boolean, string]>([
    ['plain', false, 'plain'],
    ['a=b', false, 'a=b'],
    ['a=b', true, "'a=b'"],
    ["'", false, `''\\'''`],
    ['', true, "''"],
  ])('%j (first word: %s) → %s', (word, first, quoted) => {
    expect(quoteShellWord(word, first)).toBe(quoted);
  });
});
