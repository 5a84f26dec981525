/**
 * The Analyze question dialog: one wide field (its placeholder fits), recent
 * questions offered as suggestions, Enter to analyze.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

class QuestionBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(recent: readonly string[]) {
    super();
    this.addClass('jp-DatarusQuestion');
    const label = document.createElement('label');
    label.textContent = 'What should Datarus find out?';
    this._input = document.createElement('input');
    this._input.className = 'jp-mod-styled jp-DatarusQuestion-input';
    this._input.placeholder = 'e.g. Which product line grew fastest last quarter?';
    this._input.value = recent[0] ?? '';
    const list = document.createElement('datalist');
    list.id = `datarus-recent-questions-${++QuestionBody._count}`;
    for (const question of recent) {
      list.append(new Option(question));
    }
    this._input.setAttribute('list', list.id);
    label.append(this._input);
    this.node.append(label, list);
  }

  getValue(): string {
    return this._input.value;
  }

  private readonly _input: HTMLInputElement;
  private static _count = 0;
}

/** The question, trimmed, or null when the user cancelled. */
export async function askQuestion(recent: readonly string[]): Promise<string | null> {
  const result = await showDialog({
    title: 'Analyze with Datarus',
    body: new QuestionBody(recent),
    focusNodeSelector: 'input',
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Analyze' })]
  });
  return result.button.accept ? (result.value ?? '').trim() : null;
}
