// The README names what the option table holds: every DEV_HTTPS_* variable, and every flag of
// dev-https in its "Options" table (a switch on by default as its --no- form).
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { ENV_NAMES, optionSpec, optionsOf } from '../src/cli/option-table.js';

const README = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');

test('every variable of the table is in README.md', () => {
  expect(ENV_NAMES.filter((name) => !README.includes(name))).toEqual([]);
});

test('every flag of dev-https is in the README "Options" table', () => {
  const options = README.slice(README.indexOf('## Options'), README.indexOf('### Run the app too'));
  const flag = (name: string) =>
    optionSpec(name as never).type === 'boolean' && optionSpec(name as never).default === 'on' ? `--no-${name}` : `--${name}`;
  expect(
    optionsOf(['run'])
      .map(flag)
      .filter((f) => !options.includes(`\`${f}`)),
  ).toEqual([]);
});
