import { promises as fs } from 'node:fs';

import { UsageError } from './usageError';

/**
 * Per-turn grammars (`--grammar`): `datarus` (the protocol, every turn), a GBNF
 * file (every turn), or a JSON file: a list of GBNF texts, one per turn, or an
 * object of such lists by task id (`"*"` for the others). The host applies
 * them; it is how tests force known turns out of the fixture model.
 */
export type GrammarFor = (taskId: string) => ((turn: number) => string | undefined) | string | undefined;

export async function loadGrammars(value: string | undefined): Promise<GrammarFor> {
  if (!value) {
    return () => undefined;
  }
  if (value === 'datarus') {
    return () => 'datarus';
  }
  const text = await readGrammarFile(value, '--grammar');
  if (!value.endsWith('.json')) {
    return () => text;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--grammar: ${value} is not valid JSON: ${(err as Error).message}`);
  }
  const turns = (list: unknown, where: string) => {
    if (!Array.isArray(list) || list.some(g => typeof g !== 'string')) {
      throw new UsageError(`--grammar: ${where} must be a list of GBNF texts`);
    }
    return (turn: number) => (list as string[])[Math.min(turn, list.length - 1)];
  };
  if (Array.isArray(parsed)) {
    const all = turns(parsed, value);
    return () => all;
  }
  if (parsed && typeof parsed === 'object') {
    const byTask = new Map(Object.entries(parsed).map(([k, v]) => [k, turns(v, `${value} "${k}"`)]));
    return id => byTask.get(id) ?? byTask.get('*');
  }
  throw new UsageError(`--grammar: ${value} must hold a list or an object`);
}

/** A grammar file's text, or a usage error naming the option. */
export async function readGrammarFile(file: string, option: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${option}: cannot read ${file}: ${(err as Error).message}`);
  }
}
