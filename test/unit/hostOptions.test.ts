/**
 * The host's options are declared once (src/cli/hostOptions.ts) and checked
 * as they are parsed, on every command that starts a host: a value `datarus
 * serve` would refuse is refused before anything starts.
 */
import { Command, CommanderError } from 'commander';

import { addHeadlessCommands } from '../../src/cli/headlessCommands';
import { addJudgeOptions } from '../../src/cli/judgeOptions';

/** The `datarus` headless commands and a judge command, their actions replaced by one that records the options. */
function program(seen: Record<string, unknown>[]): Command {
  const root = new Command('datarus');
  addHeadlessCommands(root);
  addJudgeOptions(root.command('judged'), true);
  for (const command of [root, ...root.commands]) {
    command.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  }
  for (const command of root.commands) {
    command.action((...args: unknown[]) => {
      seen.push((args[args.length - 1] as Command).opts());
    });
  }
  return root;
}

const COMMANDS = [
  ['run', 'a question'],
  ['eval', 'tasks.jsonl'],
  ['rollouts', 'tasks.jsonl', '-g', '2'],
  ['judged']
];

function parse(argv: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const seen: Record<string, unknown>[] = [];
    program(seen).parse(argv, { from: 'user' });
    return seen[0];
  } finally {
    process.env = saved;
  }
}

function refusal(argv: string[], env: Record<string, string> = {}): string {
  try {
    parse(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(CommanderError);
    return (err as CommanderError).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe.each(COMMANDS)('the host options of %s', (...command) => {
  it('refuse a GPU backend the host does not know, given or from $DATARUS_GPU', () => {
    expect(refusal([...command, '--gpu', 'quantum'])).toMatch(/--gpu <backend>.*unknown GPU backend "quantum"/);
    expect(refusal(command, { DATARUS_GPU: 'quantum' })).toMatch(/from env 'DATARUS_GPU'.*unknown GPU backend "quantum"/);
  });

  it('pass on a list of backends in the host spelling, and whole positive numbers', () => {
    const opts = parse([...command, '--gpu', 'cuda12,cpu', '--threads', '2', '--context-size', '4096'], { DATARUS_GPU: '' });
    expect(opts).toMatchObject({ gpu: 'cuda12,cpu', threads: 2, contextSize: 4096 });
    expect(refusal([...command, '--threads', '0'])).toMatch(/--threads <n>.*must be a positive integer/);
    expect(refusal([...command, '--context-size', '1.5'])).toMatch(/--context-size <n>.*must be a positive integer/);
  });
});
