/**
 * One Analyze run in one notebook: gathers the notebook context, drives the
 * agent loop with the notebook as its code runner, shows progress in the
 * bar above the notebook's cells, and ends cleanly whatever happens (stop, closed
 * notebook, kernel restart, host down), leaving the notebook consistent.
 */
import { Notification } from '@jupyterlab/apputils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { interactiveApproval, UserChoice } from '../agent/approvalGate';
import { kernelPolicy } from '../agent/codePolicy';
import { gatherContext } from '../agent/gatherContext';
import { HostModel } from '../agent/hostModel';
import { evaluateSilently } from '../agent/inspect';
import { AgentLoop } from '../agent/loop';
import type { AgentModel } from '../agent/types';
import { deliveredAnswer } from '../episode/answer';
import { newEpisodeId } from '../episode/ids';
import { Episode, EPISODE_SCHEMA_VERSION } from '../episode/types';
import { DatarusStreamParser, DEFAULT_PROFILE_NAME } from '../protocol';
import { contextCell } from './cellContent';
import { describeEnding } from './endings';
import { EpisodeBar } from './episodeBar';
import { removeEpisodeCells } from './episodeCells';
import { NotebookRunner } from './notebookRunner';
import { NotebookWriter } from './notebookWriter';
import type { AgentSettings } from './settings';
import type { IDatarusClient } from './tokens';

/** The settings an Analyze run reads. */
export type AnalyzeSettings = Pick<
  AgentSettings,
  | 'approval'
  | 'allowedRisks'
  | 'maxSteps'
  | 'maxConsecutiveErrors'
  | 'cellTimeoutSeconds'
  | 'observationLimit'
  | 'maxTokensPerTurn'
  | 'temperature'
  | 'contextTokenBudget'
  | 'grammar'
  | 'turnGrammars'
  | 'promptProfile'
>;

/**
 * The prompt profile for a run: the one set in the settings, else the one the
 * embedded host reports for its loaded model, else `generic`.
 */
export async function promptProfileFor(settings: Pick<AgentSettings, 'promptProfile'>, model: AgentModel, client: Pick<IDatarusClient, 'status'>): Promise<string> {
  if (settings.promptProfile) {
    return settings.promptProfile;
  }
  if (model instanceof HostModel) {
    // A host that does not answer within a moment (frozen, still starting) leaves the default profile.
    const status = await client.status({ signal: AbortSignal.timeout(3000) }).catch(() => null);
    if (status?.model?.promptProfile) {
      return status.model.promptProfile;
    }
  }
  return DEFAULT_PROFILE_NAME;
}

export class AnalyzeSession {
  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _model: AgentModel,
    private readonly _settings: AnalyzeSettings,
    private readonly _client: Pick<IDatarusClient, 'status'>
  ) {
    this.episodeId = newEpisodeId();
    this._bar = new EpisodeBar({ onStop: () => this.stop(), onRemoveCells: () => this.removeCells() });
  }

  readonly episodeId: string;

  get running(): boolean {
    return this._running;
  }

  /** Runs the episode to its end; never throws. */
  async run(question: string): Promise<Episode> {
    const panel = this._panel;
    this._running = true;
    this._bar.running = true;
    this._bar.text = 'Datarus · reading the notebook…';
    // Above the cells, not in the toolbar: a long outcome never pushes the toolbar's own items into its overflow.
    panel.contentHeader.addWidget(this._bar);
    const onClose = () => this.stop();
    panel.disposed.connect(onClose);
    const onKernelStatus = (_: unknown, status: string) => {
      if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
        this._endReason = `the kernel ${status === 'dead' ? 'died' : 'restarted'}`;
        this.stop();
      }
    };
    panel.sessionContext.statusChanged.connect(onKernelStatus);

    const writer = new NotebookWriter(panel, this.episodeId, this._model.name);
    const runner = new NotebookRunner(panel, writer);
    const settings = this._settings;
    /** The code cell of the step waiting for approval. */
    let cellId = '';
    const gate = interactiveApproval(settings.approval, async (step, _parsed, risk): Promise<UserChoice> => {
      status(step, risk ? ' · waiting for you: this cell needs your approval' : ' · waiting for you');
      this._approving = true;
      const choice = await this._bar.askApproval(risk);
      this._approving = false;
      if (choice === 'stop' || choice === 'skip') {
        if (choice === 'skip') {
          writer.markSkipped(cellId);
        }
        return { action: choice };
      }
      status(step, ' · running');
      return { action: choice, code: writer.source(cellId) };
    });
    let stepParser = new DatarusStreamParser();
    let streamingStep = -1;
    let tokens = 0;
    let turnStarted = performance.now();

    const status = (step: number, extra = '') => {
      const seconds = (performance.now() - turnStarted) / 1000;
      const rate = tokens > 1 && seconds > 0 ? ` · ${(tokens / seconds).toFixed(1)} tok/s` : '';
      this._bar.text = `Datarus · step ${step + 1}/${settings.maxSteps}${rate}${extra}`;
    };

    let episode: Episode;
    try {
      if (this._model instanceof HostModel) {
        await this._model.waitUntilReady(this._abort.signal, () => {
          this._bar.text = 'Datarus · waiting for the model host to load the model…';
        });
      }
      const [context, profile] = await Promise.all([this._context(question, settings.contextTokenBudget), promptProfileFor(settings, this._model, this._client)]);
      episode = await new AgentLoop(this._model, runner).run({
        episodeId: this.episodeId,
        question,
        profile,
        context,
        notebook: panel.context.path,
        signal: this._abort.signal,
        // Checked in the kernel before every cell runs, under either approval mode.
        policy: kernelPolicy(expression => runner.inspect(expression), settings.allowedRisks ?? []),
        temperature: settings.temperature,
        limits: {
          maxSteps: settings.maxSteps,
          maxConsecutiveErrors: settings.maxConsecutiveErrors,
          cellTimeoutMs: settings.cellTimeoutSeconds * 1000,
          observationLimit: settings.observationLimit,
          maxTokensPerTurn: settings.maxTokensPerTurn
        },
        grammar: turn =>
          settings.turnGrammars.length > 0 ? settings.turnGrammars[Math.min(turn, settings.turnGrammars.length - 1)] : settings.grammar || undefined,
        hooks: {
          onText: (step, text) => {
            if (step !== streamingStep) {
              streamingStep = step;
              stepParser = new DatarusStreamParser();
              tokens = 0;
              turnStarted = performance.now();
            }
            tokens++;
            stepParser.feed(text);
            const partial = stepParser.partial;
            if (partial.leaf === 'thought' && partial.container === 'step') {
              writer.thought(step, partial.text.trim(), false);
            }
            status(step);
          },
          onThought: (step, thought) => {
            writer.thought(step, thought, true);
            writer.renderThought(step);
          },
          approve: async (step, parsed, risks) => {
            // The cell is in the notebook before anyone decides, so it can be read and edited.
            cellId = writer.code(step, parsed.code);
            return gate(step, parsed, risks);
          },
          onAnswerRejected: rejected => {
            // The next turn writes the same step number again: stream it afresh.
            streamingStep = -1;
            this._bar.text = `Datarus · no cell printed ${rejected.unsupported.join(', ')}: asking the model to compute it`;
          },
          onAnswer: ep => {
            writer.answer(deliveredAnswer(ep) ?? ep.answer!.text, ep.answer!.thought, ep.answerGrounding?.unsupported ?? [], ep.answerForm?.fixes);
          }
        }
      });
    } catch (err) {
      // The loop itself never throws; gathering the context can (a dead kernel, a closed notebook).
      episode = this._failed(question, err instanceof Error ? err.message : String(err));
    } finally {
      writer.finishThoughts();
      panel.disposed.disconnect(onClose);
      panel.sessionContext.statusChanged.disconnect(onKernelStatus);
      this._running = false;
    }
    if (this._endReason && episode.status === 'stopped') {
      episode.reason = this._endReason;
    }
    this._report(episode);
    return episode;
  }

  /** Marks the bar: this episode is in the training log. */
  logged(): void {
    if (!this._bar.isDisposed) {
      this._bar.text = `${this._bar.text} · logged`;
      this._bar.node.dataset.logged = 'true';
    }
  }

  /** Removes the episode's bar (a new episode replaces it). */
  dispose(): void {
    this.stop();
    this._bar.dispose();
  }

  /** Removes the episode's cells (one undoable step) and its bar. */
  removeCells(): void {
    if (!this._panel.isDisposed) {
      removeEpisodeCells(this._panel.content, this.episodeId);
    }
    this._bar.dispose();
  }

  /** Stops generation and interrupts the kernel; the loop ends the episode. */
  stop(): void {
    if (this._approving) {
      this._bar.cancelApproval();
    }
    this._abort.abort();
  }

  private _report(episode: Episode): void {
    const ending = describeEnding(episode);
    if (!this._bar.isDisposed) {
      this._bar.running = false;
      this._bar.text = `Datarus · ${ending}`;
      this._bar.node.dataset.outcome = episode.status;
    }
    if (episode.status === 'failed' || episode.status === 'error_limit') {
      Notification.error(`Datarus ${ending}.`, { autoClose: 10000 });
    } else if (episode.status === 'stopped' && this._endReason) {
      Notification.warning(`Datarus stopped: ${this._endReason}`, { autoClose: 8000 });
    }
  }

  private _failed(question: string, reason: string): Episode {
    const now = new Date().toISOString();
    return {
      schemaVersion: EPISODE_SCHEMA_VERSION,
      id: this.episodeId,
      question,
      model: this._model.name,
      startedAt: now,
      endedAt: now,
      status: 'failed',
      reason,
      steps: [],
      answer: null
    };
  }

  /** The data files, the kernel's DataFrames and recent cells, within the token budget (gatherContext). */
  private async _context(question: string, budget: number): Promise<string> {
    const panel = this._panel;
    const end = panel.content.activeCellIndex + 1;
    const cells = panel.content.widgets.slice(0, end).map(widget => contextCell(widget.model));
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session?.kernel;
    // Silent requests: no cell, no history entry. A kernel that is not Python (or has no pandas) gives no data.
    const inspect = kernel ? (expression: string) => evaluateSilently(kernel, expression) : undefined;
    return gatherContext({ question, cells, inspect, budgetTokens: budget });
  }

  private readonly _bar: EpisodeBar;
  private readonly _abort = new AbortController();
  private _running = false;
  private _approving = false;
  private _endReason: string | null = null;
}
