/**
 * How good a judge is, from judged rollouts with known right answers: the area
 * under the ROC curve of its score for telling right answers from wrong ones,
 * and whether picking the highest-scored rollout of a group beats picking one
 * at random. Pure.
 */

export interface ScoredOutcome {
  score: number;
  right: boolean;
}

/**
 * The ROC AUC of `score` for `right`: the chance that a right rollout scores
 * above a wrong one, ties counting half (the Mann–Whitney U statistic over its
 * maximum). Null when there are no right or no wrong rollouts.
 */
export function rocAuc(points: ScoredOutcome[]): number | null {
  const right = points.filter(p => p.right).map(p => p.score);
  const wrong = points.filter(p => !p.right).map(p => p.score);
  if (right.length === 0 || wrong.length === 0) {
    return null;
  }
  let wins = 0;
  for (const r of right) {
    for (const w of wrong) {
      wins += r > w ? 1 : r === w ? 0.5 : 0;
    }
  }
  return wins / (right.length * wrong.length);
}

export interface GroupedOutcome extends ScoredOutcome {
  group: string;
}

export interface BestOfG {
  /** Groups with at least two scored rollouts. */
  groups: number;
  /** Of those, groups with both right and wrong rollouts: the only ones where picking can matter. */
  mixedGroups: number;
  /** Mean over groups of the accuracy of the highest-scored rollout (ties: their mean, as a random pick among them). */
  picked: number;
  /** Mean over groups of the group's accuracy: what a random pick gets. */
  mean: number;
}

export function bestOfG(outcomes: GroupedOutcome[]): BestOfG | null {
  const byGroup = new Map<string, GroupedOutcome[]>();
  for (const o of outcomes) {
    byGroup.set(o.group, [...(byGroup.get(o.group) ?? []), o]);
  }
  const accuracy = (list: GroupedOutcome[]) => list.filter(o => o.right).length / list.length;
  let groups = 0;
  let mixedGroups = 0;
  let picked = 0;
  let mean = 0;
  for (const members of byGroup.values()) {
    if (members.length < 2) {
      continue;
    }
    groups++;
    const top = Math.max(...members.map(m => m.score));
    picked += accuracy(members.filter(m => m.score === top));
    const groupAccuracy = accuracy(members);
    mean += groupAccuracy;
    if (groupAccuracy > 0 && groupAccuracy < 1) {
      mixedGroups++;
    }
  }
  return groups === 0 ? null : { groups, mixedGroups, picked: picked / groups, mean: mean / groups };
}
