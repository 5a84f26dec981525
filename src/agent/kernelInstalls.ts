/**
 * Package installs the model writes go to the kernel's own interpreter. `!pip install x` runs the
 * `pip` first on the server's PATH, which may belong to another Python (the user's global one); a
 * bare `pip install x` line, `os.system("pip install x")` and `subprocess.run(["pip", "install", "x"])`
 * do the same. IPython's `%pip` runs pip with the kernel's interpreter, so each such line becomes
 * `%pip …` before it runs. The step records every rewrite (`EpisodeStep.rewrites`). Pure.
 */
import type { CodeRewrite } from '../episode/types';

export interface KernelCode {
  code: string;
  rewrites: CodeRewrite[];
}

const WHY = "pip from PATH may belong to another Python; %pip installs into the kernel's own";

/** A pip command as a shell would see it: `pip …`, `pip3 …`, `python -m pip …`, `python3.11 -m pip …`. */
const PIP_COMMAND = /^(?:pip3?(?:\.\d+)?|python(?:3(?:\.\d+)?)?\s+-m\s+pip)\s+(\S.*)$/;
/** Shell operators: a command with them is more than a pip call, and is left as written. */
const SHELL_OPERATORS = /[;&|<>`$]|\$\(/;

/** The `%pip` line for a pip command, or null when it is not a plain one. */
function pipMagic(command: string): string | null {
  const m = PIP_COMMAND.exec(command.trim());
  if (!m || SHELL_OPERATORS.test(m[1])) {
    return null;
  }
  return `%pip ${m[1].trim()}`;
}

/** Python string literals of a call's arguments: `"a"`, `'b'`; null when any argument is not one. */
function stringLiterals(args: string): string[] | null {
  const items = args
    .split(',')
    .map(s => s.trim())
    .filter(s => s !== '');
  const values: string[] = [];
  for (const item of items) {
    const m = /^(?:[rRuU])?(["'])([^"'\\]*)\1$/.exec(item);
    if (!m) {
      return null;
    }
    values.push(m[2]);
  }
  return values;
}

/**
 * `os.system("pip install x")`, `subprocess.run("pip install x", shell=True)`,
 * `subprocess.check_call(["pip", "install", "x"])` as a whole statement: the pip command it runs.
 * (`[sys.executable, "-m", "pip", …]` already uses the kernel's interpreter and is not matched.)
 */
function subprocessPipCommand(statement: string): string | null {
  const call = /^(?:os\.system|subprocess\.(?:run|call|check_call|check_output|Popen))\((.*)\)$/.exec(statement);
  if (!call) {
    return null;
  }
  let args = call[1].replace(/,\s*(?:shell|check|capture_output|text)\s*=\s*(?:True|False)\s*/g, '').trim();
  const list = /^\[(.*)\]$/.exec(args);
  if (list) {
    const words = stringLiterals(list[1]);
    return words && words.length > 0 ? words.join(' ') : null;
  }
  args = args.replace(/,\s*$/, '');
  const single = stringLiterals(args);
  return single && single.length === 1 ? single[0] : null;
}

/** The code with every pip call outside the kernel's interpreter turned into `%pip`, and the rewrites made. */
export function kernelInstalls(code: string): KernelCode {
  const rewrites: CodeRewrite[] = [];
  let inString = false;
  const lines = code.split('\n').map(line => {
    // A line inside a triple-quoted string is text, not a command.
    const wasInString = inString;
    if ((line.match(/"""|'''/g)?.length ?? 0) % 2 === 1) {
      inString = !inString;
    }
    if (wasInString) {
      return line;
    }
    const m = /^(\s*)(.*?)\s*$/.exec(line)!;
    const [, indent, statement] = m;
    let magic: string | null = null;
    if (statement.startsWith('!')) {
      magic = pipMagic(statement.slice(1));
    } else if (/^(?:pip3?|python3?(?:\.\d+)?\s+-m\s+pip)\s+/.test(statement)) {
      // Not Python at all (a SyntaxError as written): the shell command the model meant.
      magic = pipMagic(statement);
    } else {
      const command = subprocessPipCommand(statement);
      magic = command === null ? null : pipMagic(command);
    }
    if (magic === null) {
      return line;
    }
    const rewritten = `${indent}${magic}`;
    rewrites.push({ from: line.trim(), to: magic, why: WHY });
    return rewritten;
  });
  return { code: rewrites.length > 0 ? lines.join('\n') : code, rewrites };
}
