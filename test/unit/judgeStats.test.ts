import { bestOfG, rocAuc } from '../../src/bench/judgeStats';

describe('rocAuc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, 0.5 for all ties', () => {
    expect(rocAuc([{ score: 0.9, right: true }, { score: 0.1, right: false }])).toBe(1);
    expect(rocAuc([{ score: 0.1, right: true }, { score: 0.9, right: false }])).toBe(0);
    expect(rocAuc([{ score: 0.5, right: true }, { score: 0.5, right: false }])).toBe(0.5);
  });

  it('counts the pairs a right rollout wins, ties half', () => {
    // Right: 0.8, 0.5; wrong: 0.5, 0.2 → pairs won: 1 + 1 + 0.5 + 1 = 3.5 of 4.
    const points = [0.8, 0.5].map(score => ({ score, right: true })).concat([0.5, 0.2].map(score => ({ score, right: false })));
    expect(rocAuc(points)).toBe(0.875);
  });

  it('is undefined without both classes', () => {
    expect(rocAuc([{ score: 1, right: true }])).toBeNull();
    expect(rocAuc([])).toBeNull();
  });
});

describe('bestOfG', () => {
  it("compares the top-scored rollout's accuracy with the group mean, ties as a random pick", () => {
    const result = bestOfG([
      // Group a: the judge picks the right one of four.
      { group: 'a', score: 0.9, right: true },
      { group: 'a', score: 0.2, right: false },
      { group: 'a', score: 0.3, right: false },
      { group: 'a', score: 0.1, right: false },
      // Group b: a tie at the top between a right and a wrong rollout.
      { group: 'b', score: 0.7, right: true },
      { group: 'b', score: 0.7, right: false },
      // Group c: one rollout only, left out.
      { group: 'c', score: 0.7, right: true }
    ]);
    expect(result).toEqual({ groups: 2, mixedGroups: 2, picked: (1 + 0.5) / 2, mean: (0.25 + 0.5) / 2 });
    expect(bestOfG([{ group: 'x', score: 1, right: true }])).toBeNull();
  });
});
