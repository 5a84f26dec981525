import { buildContext, ContextCell, FrameInfo } from '../../src/agent/context';
import { DEFAULT_CONTEXT_TOKENS } from '../../src/agent/gatherContext';
import { fenceData } from '../../src/agent/untrusted';

const frame: FrameInfo = { name: 'df', shape: [3, 1], dtypes: { x: 'int64' }, head: '   x\n0  1\n1  2\n2  3' };

describe('notebook context', () => {
  it('lists DataFrames with shape, dtypes and rows, then recent cells with outputs', () => {
    const cells: ContextCell[] = [
      { cellType: 'markdown', source: '# Sales' },
      { cellType: 'code', source: 'df = load()', outputs: [{ output_type: 'stream', name: 'stdout', text: 'loaded\n' }] }
    ];
    const text = buildContext(cells, [frame], 1000);
    expect(text).toBe(
      fenceData(
        "DataFrames in the kernel:\n- df: shape 3×1; columns 'x': int64\n       x\n    0  1\n    1  2\n    2  3\n\n" +
          'Recent notebook cells:\n[markdown]\n# Sales\n\n[code]\ndf = load()\n[output]\nloaded'
      )
    );
  });

  it('keeps the most recent cells within the budget', () => {
    const cells: ContextCell[] = Array.from({ length: 50 }, (_, i) => ({ cellType: 'code', source: `step_${i} = ${'x'.repeat(100)}` }));
    const text = buildContext(cells, [], 200);
    expect(text.length).toBeLessThanOrEqual(200 * 4);
    expect(text).toContain('step_49');
    expect(text).not.toContain('step_0 ');
  });

  it('is empty for an empty notebook', () => {
    expect(buildContext([{ cellType: 'code', source: '  ' }], [], 500)).toBe('');
  });
});

describe('the context budget', () => {
  it('defaults to the Analyze setting\'s default, so every front door reads as much', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const schema = require('../../schema/agent.json');
    expect(schema.properties.contextTokenBudget.default).toBe(DEFAULT_CONTEXT_TOKENS);
  });
});
