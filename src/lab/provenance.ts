/**
 * Provenance: what Datarus writes into `metadata.datarus` of every cell it
 * makes (which episode, which step, what for, which model, when), so that a
 * saved notebook is a faithful record and its cells can be found again.
 */
import type { ICellModel } from '@jupyterlab/cells';

/** The metadata key of a cell's provenance. */
export const PROVENANCE_KEY = 'datarus';

/** A cell of an Analyze episode: a step's thought or code, or the answer (step null). */
export type StepProvenance = {
  episode: string;
  step: number | null;
  role: 'thought' | 'code' | 'answer';
  model: string;
  created: string;
  /** On a code cell the user chose not to run. */
  skipped?: boolean;
  /** On an answer: false when values it states appear in no output of the episode. */
  grounded?: boolean;
};

/** A reflection cell, with the ids of the cells it reflects on. */
export type ReflectionProvenance = {
  episode: string;
  role: 'reflection';
  reflectsOn: string[];
  model: string;
  created: string;
};

export type Provenance = StepProvenance | ReflectionProvenance;

export type CellRole = Provenance['role'];

/** A cell's provenance as stored: any field may be missing, since the user (or an older version) may have changed it. */
export type StoredProvenance = Partial<Omit<StepProvenance, 'role'> & Omit<ReflectionProvenance, 'role'> & { role: CellRole }>;

/** The provenance of a cell; undefined on a cell Datarus did not write. */
export function provenanceOf(model: ICellModel | undefined): StoredProvenance | undefined {
  const value = model?.getMetadata(PROVENANCE_KEY);
  return value && typeof value === 'object' ? value : undefined;
}

/** The metadata of a new cell Datarus writes. */
export function provenanceMetadata(provenance: Provenance): { [PROVENANCE_KEY]: Provenance } {
  return { [PROVENANCE_KEY]: provenance };
}

/** Marks a code cell the user chose not to run, keeping the rest of its provenance. */
export function markSkippedInMetadata(model: ICellModel): void {
  model.setMetadata(PROVENANCE_KEY, { ...provenanceOf(model), skipped: true });
}
