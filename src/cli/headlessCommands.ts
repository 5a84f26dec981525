/** The `run`, `eval` and `rollouts` commands of the `datarus` CLI, with the options they share; src/headless/ runs them. */
import { Command, Option } from 'commander';

import { APPROVE_HELP, APPROVE_MODES, DEFAULT_APPROVE_MODE } from '../headless/approval';
import { evalCommand } from '../headless/evaluate';
import type { Write } from '../headless/progress';
import { rolloutsCommand } from '../headless/rollouts';
import { runCommand } from '../headless/run';
import { RUN_EXIT_HELP } from '../headless/runExit';
import { collect, number, positiveInt } from './arguments';
import { embeddedHostOptions } from './hostOptions';
import { addJudgeOptions } from './judgeOptions';

const stderr: Write = line => process.stderr.write(`${line}\n`);

/** Options every headless command takes: where the model and the kernels come from, and the episode's limits. */
function shared(command: Command): Command {
  const [threads, contextSize, gpu] = embeddedHostOptions();
  return command
    .option('-m, --model <name|path>', 'embedded host: a manifest name or a .gguf file (default $DATARUS_MODEL); with --base-url: the model name to ask the server for (default: the first it lists)')
    .option('--base-url <url>', 'an OpenAI-compatible server (…/v1) instead of the embedded host; repeat it to spread the turns over several', collect)
    .option('--api-key <key>', 'API key for --base-url (default $DATARUS_API_KEY, else $OPENAI_API_KEY)')
    .option('--profile <name>', "prompt profile (default: the host's manifest says; generic for a remote server)")
    .option('--jupyter-url <url>', 'a running Jupyter server for the kernels (a ?token= in it is used); repeat it for several; default: a private one started here', collect)
    .option('--token <token>', 'token for --jupyter-url servers (default $JUPYTER_TOKEN)')
    .option('--kernel-network', 'let the kernels of the private Jupyter server reach the network (default: each kernel runs in a network namespace of its own, where Linux allows it)')
    .option('--max-steps <n>', 'steps per episode (default 30)', positiveInt)
    .option('--max-tokens <n>', 'tokens per model turn (default 2048)', positiveInt)
    .option('--cell-timeout <s>', 'seconds a step may run before the kernel is interrupted (default 120)', positiveInt)
    .option('--temperature <t>', 'sampling temperature', number)
    .addOption(threads)
    .addOption(contextSize)
    .addOption(gpu)
    .option('--log <file>', "episode log (default: $DATARUS_EPISODES_FILE, else <Jupyter's data dir>/datarus/episodes.jsonl)")
    .option('--no-log', 'do not write the episodes to the episode log')
    .addOption(new Option('--approve <mode>', APPROVE_HELP).choices(APPROVE_MODES).default(DEFAULT_APPROVE_MODE))
    .option('--grammar <datarus|file>', 'constrain every turn: datarus (the protocol), a GBNF file, or a JSON list of GBNF per turn (or an object of such lists by task id); the embedded host, llama.cpp servers and datarus serve apply it');
}

export function addHeadlessCommands(program: Command): void {
  program.hook('preAction', (_program, action) => {
    if (['run', 'eval', 'rollouts'].includes(action.name())) {
      // @jupyterlab/services announces every kernel websocket on console.debug, that is on stdout,
      // which carries these commands' results.
      console.debug = () => undefined;
    }
  });
  shared(
    program
      .command('run')
      .description('answer one question in a fresh kernel, with live progress; the episode goes to the episode log')
      .argument('<question>', 'the question')
      .option('-d, --data <file>', 'a data file to put in the kernel\'s working folder (repeatable)', collect)
      .option('--notebook <file.ipynb>', 'also write the episode as a notebook, as Analyze writes it (never overwrites)')
      .addHelpText('after', `\n${RUN_EXIT_HELP}`)
  ).action(async (question: string, opts) => {
    const { end } = await runCommand(question, opts, stderr);
    process.exitCode = process.exitCode || end.code;
  });

  shared(
    program
      .command('eval')
      .description('run InfiAgent-DABench-format tasks and score their @name[value] answers; resumable')
      .argument('<tasks.jsonl>', 'questions: id, question, constraints, format, file_name, level')
      .option('--labels <labels.jsonl>', 'answers: id, common_answers [[name, value], …]')
      .option('--data-dir <dir>', "folder of the tasks' data files (default: the tasks file's folder)")
      .option('-j, --parallel <n>', 'tasks at once', positiveInt, 1)
      .option('--votes <n>', 'episodes per task, side by side; the answer most of them give counts', positiveInt, 1)
      .option('-o, --out <dir>', 'results.jsonl, summary.json and summary.md go here, with accuracy-by-concept.svg', 'datarus-eval')
      .option('-q, --quiet', 'no per-step progress, one line per task')
  ).action(async (tasks: string, opts) => {
    const summary = await evalCommand(tasks, opts, stderr);
    if (!process.exitCode && summary.errors > 0) {
      process.exitCode = 1;
    }
  });

  addJudgeOptions(shared(
    program
      .command('rollouts')
      .description('G scored episodes per task, written as GRPO rows with a group id; resumable')
      .argument('<tasks.jsonl>', 'questions in the DABench format')
      .requiredOption('-g, --group-size <G>', 'episodes per task', positiveInt)
      .option('--labels <labels.jsonl>', 'answers, for the answer part of the reward')
      .option('--answer-weight <w>', 'weight of the answer in the reward when labels are given (0..1)', number, 0.5)
      .option('--data-dir <dir>', "folder of the tasks' data files (default: the tasks file's folder)")
      .option('-j, --parallel <n>', 'episodes at once', positiveInt, 1)
      .option('-o, --out <file>', 'JSONL file of GRPO rows (appended to; a rerun skips what it holds)', 'rollouts.jsonl')
      .option('-q, --quiet', 'no per-step progress, one line per rollout')
  )).action(async (tasks: string, opts) => {
    await rolloutsCommand(tasks, opts, stderr);
  });
}
