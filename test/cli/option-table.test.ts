// The option table is the one source: the variables the code reads, the secrets kept from the app,
// help pages, completion and "did you mean" all follow from it. Help wrapping and the distance are
// pure functions, tested with a width.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { SECRET_ENV } from '../../src/cli/child.js';
import { resolveSettings } from '../../src/cli/config.js';
import { completionScript } from '../../src/cli/completion.js';
import { formatHelp, formatRows, helpText, helpWidth, wrap } from '../../src/cli/help.js';
import {
  ENV_NAMES,
  ENV_ONLY,
  exampleFlag,
  OPTION_NAMES,
  OPTIONS,
  optionSpec,
  optionsOf,
  SECRET_ENV_NAMES,
  SETTING_NAMES,
  SUBCOMMANDS,
} from '../../src/cli/option-table.js';
import { STORE_NAMES } from '../../src/options.js';
import { alternatives, closest, editDistance } from '../../src/cli/suggest.js';

const SRC = path.resolve(import.meta.dirname, '../../src');

describe('the table', () => {
  test('every DEV_HTTPS_* variable named in src/ is in the table, and every variable only the table holds is read somewhere', () => {
    const used = new Set<string>();
    for (const file of (fs.readdirSync(SRC, { recursive: true }) as string[]).filter(
      (f) => f.endsWith('.ts') && path.basename(f) !== 'option-table.ts',
    )) {
      for (const m of fs.readFileSync(path.join(SRC, file), 'utf8').matchAll(/DEV_HTTPS_[A-Z0-9_]+/g)) used.add(m[0]);
    }
    expect([...used].filter((name) => !ENV_NAMES.includes(name))).toEqual([]);
    // Settings are read through the table (config.ts); the variables without a flag by the code that needs them.
    expect(ENV_ONLY.map((e) => e.env).filter((name) => !used.has(name))).toEqual([]);
    expect(new Set(ENV_NAMES).size).toBe(ENV_NAMES.length);
  });

  test('settings are DEV_HTTPS_ and their long name; the secrets are the ones the app command never gets', () => {
    for (const name of SETTING_NAMES) expect(optionSpec(name).env).toBe(`DEV_HTTPS_${name.toUpperCase().replace(/-/g, '_')}`);
    expect(OPTION_NAMES.filter((n) => optionSpec(n).env && !SETTING_NAMES.includes(n as never))).toEqual([]);
    expect([...SECRET_ENV_NAMES].sort()).toEqual([...SECRET_ENV].sort());
    expect(SECRET_ENV_NAMES).toEqual(['DEV_HTTPS_PASSPHRASE', 'DEV_HTTPS_JAVA_STOREPASS']);
  });

  test('every option that takes a value has a placeholder and an example; aliases are unique; --store completes the stores there are', () => {
    for (const name of OPTION_NAMES) {
      const spec = optionSpec(name);
      if (spec.type === 'boolean') continue;
      expect([name, spec.example !== undefined, spec.value !== undefined || spec.choices !== undefined]).toEqual([name, true, true]);
    }
    const shorts = OPTION_NAMES.map((n) => optionSpec(n).short).filter(Boolean);
    expect(shorts).toEqual(['t', 'p', 'q', 'h']);
    expect(OPTIONS.store.complete).toEqual([...STORE_NAMES]);
    expect([exampleFlag('port'), exampleFlag('store'), exampleFlag('log'), exampleFlag('open')]).toEqual([
      '--port 8443',
      '--store system,nss',
      '--log json',
      '--open',
    ]);
  });

  test.each<[string, string[]]>([
    [
      'run',
      [
        'target',
        'route',
        'run',
        'port',
        'http-port',
        'redirect-http',
        'keep-hsts',
        'inspect',
        'http2',
        'host',
        'cert-dir',
        'cert',
        'key',
        'pfx',
        'passphrase',
        'name',
        'allow-host',
        'open',
        'quiet',
        'log',
        'help',
        'version',
      ],
    ],
    ['check', ['target', 'route', 'cert-dir', 'path', 'json', 'help']],
    ['trust', ['store', 'check', 'permit', 'replace', 'help']],
    ['untrust', ['store', 'help']],
    ['doctor', ['store', 'help']],
    ['cert', ['host', 'cert-dir', 'cert', 'key', 'pfx', 'passphrase', 'name', 'json', 'help']],
  ])('%s takes %j', (command, names) => {
    expect(optionsOf([command as never])).toEqual(names);
  });
});

describe('config and environment come from the table', () => {
  const VALUE: Record<string, string> = {
    port: '9443',
    target: '8000',
    boolean: 'true',
    list: 'a.test,b.test',
    string: 'x',
    choices: 'json',
  };

  test.each(SETTING_NAMES)('%s is read from its variable, and messages name that variable', (name) => {
    const spec = optionSpec(name);
    const cwd = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'dev-https-env-'));
    try {
      const settings = resolveSettings({}, { cwd, env: { [spec.env!]: VALUE[spec.type]! } });
      const field = spec.setting!.field;
      const expected = spec.type === 'list' ? ['a.test', 'b.test'] : spec.type === 'boolean' ? true : VALUE[spec.type];
      if (field) {
        expect(settings.proxies[0]![field]).toEqual(expected);
        expect(settings.proxies[0]!.origins![field]).toEqual({ label: spec.env, fromConfig: false });
      } else expect({ quiet: settings.quiet, log: settings.log, run: settings.run }[name as 'quiet' | 'log' | 'run']).toEqual(expected);
      if (spec.type !== 'string' && spec.type !== 'list') {
        expect(() => resolveSettings({}, { cwd, env: { [spec.env!]: 'bad value' } })).toThrow(
          new RegExp(`^Invalid ${spec.env} "bad value": expected `),
        );
      }
    } finally {
      fs.rmSync(cwd, { recursive: true });
    }
  });
});

describe('help', () => {
  test.each<[string[], number, string[]]>([
    [['one', 'two', 'three', 'four'], 9, ['one two', 'three', 'four']],
    [['one', 'two', 'three', 'four'], 13, ['one two three', 'four']],
    [['a', 'unbreakable-word', 'b'], 6, ['a', 'unbreakable-word', 'b']],
    [['x', 'y', 'z'], 3, ['x y', '  z']],
  ])('wrap(%j, %i)', (words, width, lines) => {
    expect(wrap(words, width, width === 3 ? '  ' : '')).toEqual(lines);
  });

  test('rows wrap beside the left column, [default: …] kept whole, and go under it when the width leaves less than 30', () => {
    const rows = [
      ['--port <n>', 'HTTPS port (0 picks a free one) [default: 8443]'],
      ['--open', 'Open it'],
    ] as const;
    expect(formatRows(rows, 44)).toEqual([
      '  --port <n>  HTTPS port (0 picks a free',
      '              one) [default: 8443]',
      '  --open      Open it',
    ]);
    expect(formatRows(rows, 40)).toEqual([
      '  --port <n>',
      '        HTTPS port (0 picks a free one)',
      '        [default: 8443]',
      '  --open',
      '        Open it',
    ]);
  });

  test('a page at 60 columns: the synopsis breaks between groups, paragraphs reflow, options come from the table', () => {
    const text = formatHelp(
      {
        usage: ['dev-https trust [--store system,nss,macos,windows,java] [--check]', 'dev-https doctor'],
        about: 'trust adds the CA\nto the stores.\n\nuntrust removes it.',
        commands: ['untrust'],
      },
      60,
    );
    expect(text).toBe(
      [
        'Usage: dev-https trust',
        '                 [--store system,nss,macos,windows,java]',
        '                 [--check]',
        '       dev-https doctor',
        '',
        'trust adds the CA to the stores.',
        '',
        'untrust removes it.',
        '',
        'Options:',
        '      --store <list>  Only these stores: system, nss, macos,',
        '                      windows, java (comma-separated)',
        '                      [default: all present]',
        '  -h, --help          Show this help',
        '',
      ].join('\n'),
    );
  });

  test.each([40, 60, 80, 100, 160])(
    'every page at %i columns: no line longer, every option of the command listed with its alias',
    (width) => {
      const pages = { run: ['run'], check: ['check'], trust: ['trust', 'untrust', 'doctor'], cert: ['cert'] } as const;
      for (const [page, commands] of Object.entries(pages)) {
        const text = helpText(page as keyof typeof pages, width);
        const long = text.split('\n').filter((l) => l.length > width);
        // Only a single word wider than the width may pass it.
        for (const line of long) expect(line.trim()).not.toContain(' ');
        for (const name of optionsOf(commands)) {
          const short = optionSpec(name).short;
          expect(text).toContain(short ? `-${short}, --${name}` : `    --${name}`);
        }
      }
      if (width >= 100)
        expect(helpText('run', width)).toContain(
          'Usage: dev-https [--target <port | host:port | http://host:port>] [options] [-- <app command>]\n',
        );
    },
  );

  test('the secret option names its variable; defaults come from the table', () => {
    // The column is as wide as the command's longest option (run and check: --route <prefix|host>=<target>).
    const row = (left: string, right: string, width = 36) => `\n  ${left.padEnd(width)}${right}\n`;
    expect(helpText('run', 200)).toContain(
      row('    --passphrase <text>', 'Passphrase of --pfx or of an encrypted --key (or DEV_HTTPS_PASSPHRASE, kept out of ps)'),
    );
    expect(helpText('run', 200)).toContain(
      row('-t, --target <port|host:port|url>', 'The app: a port (8000), host:port or http://host:port [default: the demo app]'),
    );
    expect(helpText('check', 200)).toContain(
      row('-t, --target <port|host:port|url>', 'The running app: a port (8000), host:port or http://host:port'),
    );
    expect(helpText('run', 200)).toContain(
      row('    --log <text|json>', 'Log format: text for people, json lines for tools [default: text]'),
    );
  });

  test.each<[{ isTTY?: boolean; columns?: number }, number]>([
    [{ isTTY: true, columns: 120 }, 120],
    [{ isTTY: true, columns: 20 }, 40],
    [{ isTTY: false, columns: 120 }, 80],
    [{}, 80],
  ])('helpWidth(%j) is %i', (stream, width) => {
    expect(helpWidth(stream)).toBe(width);
  });
});

describe('did you mean', () => {
  test.each<[string, string, number]>([
    ['prot', 'port', 1],
    ['chek', 'check', 1],
    ['targte', 'target', 1],
    ['foo', 'log', 2],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
  ])('editDistance(%s, %s) = %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });

  test.each<[string, string[]]>([
    ['prot', ['port']],
    ['foo', []],
    ['http', ['http-port', 'http2']],
    ['htp2', ['http2']],
    ['http-', ['http-port']],
    ['redirect', ['redirect-http']],
    ['ht', []],
    ['hots', ['host']],
    ['prt', ['port']],
    ['verbose', []],
  ])('closest(%s) among dev-https options is %j', (given, expected) => {
    expect(closest(given, optionsOf(['run']))).toEqual(expected);
  });

  test('ties are all named, in table order', () => {
    expect(
      closest(
        'cart',
        SUBCOMMANDS.map((c) => c.name),
      ),
    ).toEqual(['cert']);
    expect(
      closest(
        'tust',
        SUBCOMMANDS.map((c) => c.name),
      ),
    ).toEqual(['trust']);
    expect(closest('bat', ['cat', 'bar', 'hat'])).toEqual(['cat', 'bar', 'hat']);
    expect(alternatives(['--a', '--b', '--c'])).toBe('--a, --b or --c');
    expect(alternatives(['--a', '--b'])).toBe('--a or --b');
  });
});

const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;

describe.skipIf(!hasBash)('completion', () => {
  const script = completionScript();

  /** COMPREPLY of the generated script for these words (the script itself, without the bin). */
  function complete(words: string[], cwd?: string): string {
    const run = `source /dev/stdin <<'EOF'\n${script}EOF\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dev_https_complete; echo "\${COMPREPLY[@]}"`;
    const result = spawnSync('bash', ['-c', run], { encoding: 'utf8', cwd });
    expect(result.stderr).toBe('');
    return result.stdout;
  }

  test('every option of the table is completed for its commands, with its alias and --no- for a switch on by default', () => {
    for (const name of OPTION_NAMES) {
      const spec = optionSpec(name);
      for (const command of spec.commands) {
        const words = complete(command === 'run' ? ['dev-https', '-'] : ['dev-https', command, '-'])
          .trim()
          .split(' ');
        expect([name, command, words.includes(`--${name}`)]).toEqual([name, command, true]);
        if (spec.short) expect(words).toContain(`-${spec.short}`);
      }
    }
    expect(complete(['dev-https', '--no'])).toBe('--no-inspect --no-http2\n');
  });

  test.each([
    [['dev-https', ''], 'check trust untrust doctor cert completion\n'],
    [['dev-https', 'trust', '--store', ''], 'system nss macos windows java\n'],
    [['dev-https', 'trust', '--permit', ''], '\n'],
    [['dev-https', 'doctor', '-'], '--store --help -h\n'],
    [['dev-https', 'untrust', '--'], '--store --help\n'],
    [['dev-https', 'cert', '--p'], '--pfx --passphrase\n'],
    [['dev-https', '-p', ''], '\n'],
    [['dev-https', '--log', 't'], 'text\n'],
  ])('%j completes to %j', (words, expected) => {
    expect(complete(words)).toBe(expected);
  });

  test('--cert-dir completes directories, --cert files', () => {
    const cwd = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'dev-https-complete-'));
    fs.mkdirSync(path.join(cwd, 'certs'));
    fs.writeFileSync(path.join(cwd, 'cert.pem'), '');
    try {
      expect(complete(['dev-https', '--cert-dir', 'c'], cwd)).toBe('certs\n');
      expect(complete(['dev-https', 'cert', '--cert', 'c'], cwd).trim().split(' ').sort()).toEqual(['cert.pem', 'certs']);
    } finally {
      fs.rmSync(cwd, { recursive: true });
    }
  });
});
