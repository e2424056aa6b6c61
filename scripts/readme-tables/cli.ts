import type { Command, Option } from 'commander';
import { program } from '../../src/cli/main.ts';
import { cell, table } from './markdown.ts';

/**
 * The command reference of docs/operations/cli.md, walked from the commander program `openua` runs
 * (src/cli/main.ts): each command with its arguments, description and options. A command without a description
 * throws, so a new one cannot reach the reference unsaid.
 */

const usage = (command: Command, parents: string[]) =>
  [
    ...parents,
    command.name(),
    ...command.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)),
  ].join(' ');

function described(command: Command, name: string): string {
  const description = command.description();
  if (description === '') throw new Error(`\`${name}\` has no description (src/cli/main.ts)`);
  return description;
}

const optionRow = (option: Option) => [
  `\`${option.flags}\`${option.mandatory ? ' (required)' : ''}`,
  option.defaultValue === undefined ? '' : `\`${option.defaultValue}\``,
  cell(option.description),
];

/** A command that does something (it has no subcommands): its heading, what it does, and its options. */
function leaf(command: Command, parents: string[], level: string): string {
  const name = usage(command, parents);
  const parts = [`${level} \`${name}\``, described(command, name)];
  if (command.options.length > 0) {
    parts.push(table(['Option', 'Default', 'Meaning'], command.options.map(optionRow)));
  }
  return parts.join('\n\n');
}

export function cliReference(): string {
  const cli = program();
  return cli.commands
    .map((command) => {
      if (command.commands.length === 0) return leaf(command, [cli.name()], '###');
      const parents = [cli.name(), command.name()];
      const heading = `### \`${parents.join(' ')}\`: ${described(command, parents.join(' '))}`;
      return [heading, ...command.commands.map((sub) => leaf(sub, parents, '####'))].join('\n\n');
    })
    .join('\n\n');
}
