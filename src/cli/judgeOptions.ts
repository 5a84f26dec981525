/** The judge's options (src/headless/judge.ts runs the judge). */
import { Command } from 'commander';

import { DEFAULT_JUDGE_TIMEOUT_MS } from '../agent/judge';
import { positiveInt } from './arguments';
import { embeddedHostOptions } from './hostOptions';

/** The judge's options, the same on every command that takes `--judge`. */
export function addJudgeOptions(command: Command, withEmbeddedHost = false): Command {
  command
    .option('--judge', 'add the judge\'s scores (reward_parts.hrm_step, hrm_episode): the embedded host, or --judge-url')
    .option('--judge-url <url>', 'an OpenAI-compatible server (…/v1) as the judge (implies --judge); its key from $DATARUS_JUDGE_API_KEY')
    .option('--judge-model <name|path>', 'the judge model: a manifest name or .gguf for the embedded host, or the model to ask --judge-url for')
    .option('--judge-timeout <s>', `seconds the judge may take per episode before its score is left out (default ${DEFAULT_JUDGE_TIMEOUT_MS / 1000})`, positiveInt)
    .option('--judge-grammar <file>', "GBNF the judge's answer is held to instead of the rubric's own (it must still give the rubric's JSON)")
    .option('--judge-cache <file>', "where verdicts are kept by episode hash (default: judge-cache.jsonl beside the episode log)")
    .option('--no-judge-cache', 'ask the judge again for every episode, and keep nothing');
  if (withEmbeddedHost) {
    for (const option of embeddedHostOptions('embedded host: auto, cuda, vulkan, metal, cpu')) {
      command.addOption(option);
    }
  }
  return command;
}
