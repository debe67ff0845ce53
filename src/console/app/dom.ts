/** Building the page: elements with text and attributes, never HTML strings (no injection). */
import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import { describeError } from './api.js';

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** A labelled input (the label names it for screen readers and clicks). */
export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return el('p', { class: 'field' }, el('label', { for: id }, label), input);
}

export function input(attributes: Readonly<Record<string, string>>): HTMLInputElement {
  return el('input', attributes);
}

export function table(
  headings: readonly string[],
  rows: readonly (readonly Child[])[],
): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'empty' }, 'None.');
  return el(
    'div',
    { class: 'scroll' },
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...headings.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c))))),
    ),
  );
}

export function time(timestamp: Timestamp | undefined): string {
  return timestamp ? timestampDate(timestamp).toISOString().replace('.000Z', 'Z') : '';
}

/** Says something in the page's live region (read out by screen readers). */
export function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  const status = document.getElementById('status');
  if (!status) return;
  status.className = kind;
  status.textContent = message;
}

/**
 * Runs `act` when `form` is submitted (the event tells which button); what
 * it answers is announced, and so is its error, as the operator can act on it.
 */
export function onSubmit(
  form: HTMLFormElement,
  act: (event: SubmitEvent) => Promise<string>,
): void {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      announce(await act(event as SubmitEvent));
    } catch (error) {
      announce(describeError(error), 'error');
    }
  });
}

/** A one-field form for an action that needs a reason (revokes): the reason is required. */
export function reasonForm(
  name: string,
  label: string,
  act: (reason: string) => Promise<string>,
): HTMLElement {
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const form = el(
    'form',
    { class: 'inline compact', 'aria-label': name },
    field(label, reason),
    el('button', { type: 'submit', class: 'danger' }, 'Revoke'),
  );
  onSubmit(form, () => act(reason.value.trim()));
  return form;
}
