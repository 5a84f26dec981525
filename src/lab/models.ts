/**
 * The Models command: pick a manifest, download it with progress (and Cancel),
 * or load it. Downloads run in the host; this polls their progress.
 */
import { Dialog, InputDialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';

import type { ModelEntry, PullState } from '../contract';
import type { IDatarusClient } from './tokens';

/** The model the dialog offers first: the loaded one, else one already downloaded; never a download by default. */
export function preselectedModel<T extends Pick<ModelEntry, 'downloaded' | 'loaded'>>(models: readonly T[]): T | undefined {
  return models.find(m => m.loaded) ?? models.find(m => m.downloaded) ?? models[0];
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function describePull(p: Pick<PullState, 'model' | 'progress'>): string {
  const progress = p.progress;
  if (!progress) {
    return `Downloading ${p.model}…`;
  }
  const percent = progress.percent === null ? '' : `${progress.percent.toFixed(0)}% · `;
  const size = progress.totalBytes ? `${megabytes(progress.downloadedBytes)} of ${megabytes(progress.totalBytes)}` : megabytes(progress.downloadedBytes);
  const eta = progress.etaSeconds === null ? '' : ` · ${Math.ceil(progress.etaSeconds)} s left`;
  return `Downloading ${p.model}: ${percent}${size} · ${megabytes(progress.bytesPerSecond)}/s${eta}`;
}

async function load(client: IDatarusClient, name: string, onChange: () => void): Promise<void> {
  const id = Notification.emit(`Loading ${name}…`, 'in-progress', { autoClose: false });
  onChange();
  try {
    await client.loadModel(name);
    Notification.update({ id, message: `${name} is loaded`, type: 'success', autoClose: 4000 });
  } catch (err) {
    Notification.update({ id, message: `${name} could not be loaded: ${(err as Error).message}`, type: 'error', autoClose: false });
  }
  onChange();
}

async function download(client: IDatarusClient, name: string, onChange: () => void): Promise<void> {
  try {
    await client.pull(name);
  } catch (err) {
    await showErrorMessage(`${name} cannot be downloaded here`, (err as Error).message);
    return;
  }
  const cancel = { label: 'Cancel', callback: () => void client.cancelPull(name) };
  const id = Notification.emit(`Downloading ${name}…`, 'in-progress', { autoClose: false, actions: [cancel] });
  for (;;) {
    await new Promise(r => setTimeout(r, 500));
    const pulls = await client.pulls();
    const pull = pulls.find(p => p.model === name);
    if (!pull || pull.state === 'downloading') {
      Notification.update({ id, message: pull ? describePull(pull) : `Downloading ${name}…`, type: 'in-progress', actions: [cancel] });
      continue;
    }
    if (pull.state === 'done') {
      Notification.update({
        id,
        message: `${name} is downloaded`,
        type: 'success',
        autoClose: false,
        actions: [{ label: 'Load it', callback: () => void load(client, name, onChange) }]
      });
    } else {
      Notification.update({ id, message: `${name}: download ${pull.state}. ${pull.error ?? ''}`, type: pull.state === 'cancelled' ? 'warning' : 'error', autoClose: false });
    }
    return;
  }
}

/** Asks which model, then downloads or loads it. `onChange` refreshes the status bar. */
export async function manageModels(client: IDatarusClient, onChange: () => void): Promise<void> {
  let models: ModelEntry[];
  try {
    models = await client.models();
  } catch (err) {
    await showErrorMessage('The model host is not available', (err as Error).message);
    return;
  }
  const label = (m: ModelEntry) => `${m.displayName} (${m.name}) — ${m.loaded ? 'loaded' : m.downloaded ? 'downloaded: load it' : 'not downloaded: download it'}`;
  const first = preselectedModel(models);
  const result = await InputDialog.getItem({
    title: 'Datarus models',
    label: 'Model',
    items: models.map(label),
    current: first ? models.indexOf(first) : 0, // an index: a label would leave the select on its first option
    okLabel: 'Go'
  });
  if (!result.button.accept || result.value === null) {
    return;
  }
  const model = models.find(m => label(m) === result.value)!;
  if (model.loaded) {
    return;
  }
  if (model.downloaded) {
    await load(client, model.name, onChange);
    return;
  }
  // A download can be gigabytes: it takes a choice of its own.
  const size = model.sizeBytes ? ` (${(model.sizeBytes / 1e9).toFixed(1)} GB)` : '';
  const confirm = await showDialog({
    title: `Download ${model.displayName}?`,
    body: `${model.name} is not downloaded yet. Download it${size} into the models folder?`,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Download' })]
  });
  if (confirm.button.accept) {
    await download(client, model.name, onChange);
  }
}
