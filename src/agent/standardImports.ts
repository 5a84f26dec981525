/**
 * The usual aliases of the data stack (`np`, `pd`, `plt`, `sns`, and `glob`) and SciPy's
 * subpackages (`scipy.stats`), imported for a step that uses one it never
 * imports. The starter wrote `np.log(x)` without `import numpy as np`, and
 * after the NameError sent the very same code three more times (DABench 39, at
 * temperature 0.2 and at 0); `scipy.stats.pearsonr` without an import went the
 * same way (DABench 34). Importing a module the
 * kernel already has is a no-op, so the line is added whenever the step itself
 * neither imports nor assigns the name; the step records it among its
 * `rewrites`. Only names nobody uses for data of their own: `stats` or `sm`
 * may be a user's variable, and an import would replace it. Pure.
 */
import type { CodeRewrite } from '../episode/types';
import { pythonTextMask } from './pythonText';

/** Alias, and the import that defines it. */
const ALIASES: readonly [string, string][] = [
  ['np', 'import numpy as np'],
  ['pd', 'import pandas as pd'],
  ['plt', 'import matplotlib.pyplot as plt'],
  ['sns', 'import seaborn as sns'],
  // The compact profile's worked example finds the data file with glob.glob, and the starter copies the call without the import.
  ['glob', 'import glob']
];

/** SciPy's subpackages: each is imported by name, as SciPy before lazy loading needs for `scipy.stats.…`. */
const SCIPY_SUBPACKAGES = new Set(
  'cluster constants datasets differentiate fft fftpack integrate interpolate io linalg ndimage odr optimize signal sparse spatial special stats'.split(' ')
);

const WHY = 'the step uses the usual alias without importing it; importing it again is harmless where the kernel has it';

/** Whether `code` binds `name` itself: imports it (`as np`, `import np`, `from … import np`) or assigns it. */
function binds(code: string, name: string): boolean {
  const imports = new RegExp(`\\bas\\s+${name}\\b|^\\s*(?:from\\s+\\S+\\s+)?import\\s+[^#\\n]*\\b${name}\\b`, 'm');
  const assigns = new RegExp(`(?<![\\w.])${name}\\s*(?::[^=\\n]+)?=(?!=)|\\bfor\\s+[^\\n]*\\b${name}\\b[^\\n]*\\bin\\b|\\bdef\\s+${name}\\b`);
  return imports.test(code) || assigns.test(code);
}

/** The step with an import line for each usual alias it uses (`np.` outside strings and comments) but never defines. */
export function addStandardImports(code: string): { code: string; rewrites: CodeRewrite[] } {
  // A cell magic must stay the first line, and so must a __future__ import.
  if (/^\s*(%%|from\s+__future__\b)/.test(code)) {
    return { code, rewrites: [] };
  }
  const mask = pythonTextMask(code);
  const missing = ALIASES.filter(([alias]) => {
    const uses = [...code.matchAll(new RegExp(`(?<![\\w.])${alias}\\.`, 'g'))].some(m => !mask[m.index!]);
    return uses && !binds(code, alias);
  });
  const lines = missing.map(([, line]) => line);
  if (!binds(code, 'scipy')) {
    const used = [...code.matchAll(/(?<![\w.])scipy\.(\w+)/g)].filter(m => !mask[m.index!]).map(m => m[1]);
    const subpackages = [...new Set(used)].filter(name => SCIPY_SUBPACKAGES.has(name));
    lines.push(...(subpackages.length > 0 ? subpackages.map(name => `import scipy.${name}`) : used.length > 0 ? ['import scipy'] : []));
  }
  if (lines.length === 0) {
    return { code, rewrites: [] };
  }
  return {
    code: `${lines.join('\n')}\n${code}`,
    rewrites: lines.map(line => ({ from: '', to: line, why: WHY }))
  };
}
