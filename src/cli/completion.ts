// The bash completion script (`dev-https completion`), generated from the option table.
import { OPTION_NAMES, optionSpec, optionsOf, SUBCOMMANDS, type CommandName, type OptionName } from './option-table.js';

/** The words that name an option: --name, its alias, and --no-name for a switch that is on by default. */
function flagWords(name: OptionName): string[] {
  const spec = optionSpec(name);
  return [
    `--${name}`,
    ...(spec.short ? [`-${spec.short}`] : []),
    ...(spec.type === 'boolean' && spec.default === 'on' ? [`--no-${name}`] : []),
  ];
}

function commandFlags(command: CommandName): string {
  return optionsOf([command]).flatMap(flagWords).join(' ');
}

/** `case "$prev"` entries: what follows each option that takes a value. */
function valueCases(): string[] {
  const groups = new Map<string, string[]>();
  for (const name of OPTION_NAMES) {
    const spec = optionSpec(name);
    if (spec.type === 'boolean') continue;
    const words = flagWords(name);
    const action =
      spec.complete === 'dir'
        ? 'COMPREPLY=( $(compgen -d -- "$cur") ); return'
        : spec.complete === 'file'
          ? 'COMPREPLY=( $(compgen -f -- "$cur") ); return'
          : spec.complete === 'none'
            ? 'return'
            : `COMPREPLY=( $(compgen -W "${spec.complete.join(' ')}" -- "$cur") ); return`;
    groups.set(action, [...(groups.get(action) ?? []), ...words]);
  }
  return [...groups].map(([action, words]) => `    ${words.join('|')}) ${action} ;;`);
}

/** `case "${COMP_WORDS[1]}"` entries: each subcommand's options (commands with the same ones share an entry). */
function commandCases(): string[] {
  const groups = new Map<string, CommandName[]>();
  for (const command of ['check', 'trust', 'untrust', 'doctor', 'cert'] as const) {
    const flags = commandFlags(command);
    groups.set(flags, [...(groups.get(flags) ?? []), command]);
  }
  return [...groups].map(([flags, commands]) => `    ${commands.join('|')}) COMPREPLY=( $(compgen -W "${flags}" -- "$cur") ); return ;;`);
}

/** A bash completion script (zsh: load it after `autoload -U bashcompinit && bashcompinit`). */
export function completionScript(): string {
  return `# dev-https completion for bash (zsh: autoload -U bashcompinit && bashcompinit first)
# Install: dev-https completion >> ~/.bashrc
_dev_https_complete() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${valueCases().join('\n')}
  esac
  if [ "$COMP_CWORD" -eq 1 ] && [[ "$cur" != -* ]]; then
    COMPREPLY=( $(compgen -W "${SUBCOMMANDS.map((c) => c.name).join(' ')}" -- "$cur") ); return
  fi
  case "\${COMP_WORDS[1]}" in
${commandCases().join('\n')}
  esac
  COMPREPLY=( $(compgen -W "${commandFlags('run')}" -- "$cur") )
}
complete -F _dev_https_complete dev-https
`;
}
