/**
 * The catalog editor: which features each Stripe price or product gives.
 * The whole catalog is one form because SetCatalog replaces it whole. The
 * service owns the rules (src/api/admin/catalog-routes.ts): the page only
 * shows the inputs a feature's kind uses, and when the service refuses,
 * its message names the field's path, which is marked where it was typed.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type CatalogEntry,
  type CatalogEntrySchema,
  type CatalogFeature,
  type CatalogFeatureSchema,
  type CreditPack,
  FeatureKind,
  type MeteredFeature,
  OverageMode,
  ResetInterval,
} from '../../../gen/billing/v1/admin_pb.js';
import { admin, describeError } from './api.js';
import { el, field, input, onSubmit } from './dom.js';

type EntryInit = MessageInitShape<typeof CatalogEntrySchema>;
type FeatureInit = MessageInitShape<typeof CatalogFeatureSchema>;
type Choices<T> = ReadonlyArray<readonly [T, string]>;

const kindChoices: Choices<FeatureKind> = [
  [FeatureKind.BOOLEAN, 'Boolean'],
  [FeatureKind.LIMIT, 'Limit'],
  [FeatureKind.METERED, 'Metered'],
];
const resetChoices: Choices<ResetInterval> = [
  [ResetInterval.BILLING_PERIOD, 'Billing period'],
  [ResetInterval.DAY, 'Day'],
  [ResetInterval.WEEK, 'Week'],
  [ResetInterval.MONTH, 'Month'],
  [ResetInterval.YEAR, 'Year'],
];
const overageChoices: Choices<OverageMode> = [
  [OverageMode.BLOCK, 'Block: refuse beyond the balance'],
  [OverageMode.ALLOW, 'Allow: record the overage'],
];

export async function catalogPage(): Promise<HTMLElement> {
  const page = el('section', { 'aria-labelledby': 'catalog-title' });
  const heading = () => [
    el('h2', { id: 'catalog-title' }, 'Catalog'),
    el(
      'p',
      { class: 'hint' },
      'Which features each Stripe price or product gives. Saving replaces the whole catalog (audited with the reason).',
    ),
  ];
  const show = (entries: readonly CatalogEntry[]): HTMLFormElement => {
    const form = catalogForm(entries, show);
    page.replaceChildren(...heading(), form);
    return form;
  };
  try {
    show((await admin.getCatalog({})).entries);
  } catch (error) {
    page.replaceChildren(...heading(), el('p', { class: 'error' }, describeError(error)));
  }
  return page;
}

function catalogForm(
  entries: readonly CatalogEntry[],
  show: (entries: readonly CatalogEntry[]) => HTMLFormElement,
): HTMLFormElement {
  const addEntry = el('button', { type: 'button', class: 'secondary' }, 'Add entry');
  const reason = input({ name: 'reason', required: '', maxlength: '500', 'data-field': 'reason' });
  const rows = entryRows(addEntry);
  for (const entry of entries) rows.add(entry);
  const form = el(
    'form',
    { class: 'catalog-form', 'aria-label': 'Catalog' },
    rows.element,
    el('p', { class: 'actions' }, addEntry),
    field('Reason', reason),
    el('button', { type: 'submit' }, 'Save catalog'),
  );
  addEntry.addEventListener('click', () => rows.add(undefined).focus());
  onSubmit(form, async () => {
    clearMarks(form);
    try {
      const saved = await admin.setCatalog({ entries: rows.read(), reason: reason.value.trim() });
      // The new form replaces the button that had focus: keyboard users stay at Save.
      show(saved.entries).querySelector<HTMLElement>('button[type="submit"]')?.focus();
      const count = saved.entries.length;
      return `Catalog saved (${count} ${count === 1 ? 'entry' : 'entries'}).`;
    } catch (error) {
      if (!markInvalid(form, error)) throw error;
      return 'Nothing saved: fix the marked field.';
    }
  });
  return form;
}

/** An editor of one entry or feature, at a place in the request that moves with removals. */
interface RowEditor<R> {
  readonly element: HTMLFieldSetElement;
  readonly first: HTMLElement;
  /** `path`: its field path (`entries[1]`); `ordinal`: its number in the legend. */
  number(path: string, ordinal: number): void;
  read(): R;
}

interface Rows<V, R> {
  readonly element: HTMLElement;
  /** Adds a row (a new one when undefined); answers its first input. */
  add(value: V | undefined): HTMLElement;
  /** The list's own path (`entries`, `entries[0].features`): its rows are numbered below it. */
  number(path: string): void;
  read(): R[];
}

/**
 * A list of rows (the entries, or one entry's features): added, removed
 * (focus goes back to its Add button), numbered again after each change.
 */
function rowList<V, R>(
  list: HTMLElement,
  addButton: HTMLButtonElement,
  make: (value: V | undefined, onRemove: (editor: RowEditor<R>) => void) => RowEditor<R>,
  onCount: (count: number) => void = () => undefined,
): Rows<V, R> {
  const editors: RowEditor<R>[] = [];
  let prefix = '';
  const renumber = () => {
    list.dataset.field = prefix;
    editors.forEach((editor, i) => {
      editor.number(`${prefix}[${i}]`, i + 1);
    });
    onCount(editors.length);
  };
  const remove = (editor: RowEditor<R>) => {
    editors.splice(editors.indexOf(editor), 1);
    editor.element.remove();
    renumber();
    addButton.focus();
  };
  return {
    element: list,
    add(value) {
      const editor = make(value, remove);
      editors.push(editor);
      list.append(editor.element);
      renumber();
      return editor.first;
    },
    number(path) {
      prefix = path;
      renumber();
    },
    read: () => editors.map((editor) => editor.read()),
  };
}

function entryRows(addEntry: HTMLButtonElement): Rows<CatalogEntry, EntryInit> {
  const none = el('p', { class: 'empty' }, 'No entries: no price or product gives a feature.');
  const list = el('div', { class: 'entries' }, none);
  const entries = rowList(list, addEntry, entryEditor, (count) => {
    none.hidden = count > 0;
  });
  entries.number('entries');
  return entries;
}

function entryEditor(
  entry: CatalogEntry | undefined,
  onRemove: (editor: RowEditor<EntryInit>) => void,
): RowEditor<EntryInit> {
  const stripeId = input({
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: '205',
    placeholder: 'price_... or prod_...',
    value: entry?.stripeId ?? '',
  });
  const legend = el('legend', {});
  const addFeature = el('button', { type: 'button', class: 'secondary' }, 'Add feature');
  const removeEntry = el('button', { type: 'button', class: 'danger' }, 'Remove entry');
  const features = featureRows(addFeature);
  const element = el(
    'fieldset',
    { class: 'entry' },
    legend,
    field('Stripe price or product id', stripeId),
    features.element,
    el('p', { class: 'actions' }, addFeature, removeEntry),
  );
  // A new entry starts with one feature: the service refuses an entry without any.
  for (const feature of entry ? entry.features : [undefined]) features.add(feature);
  const editor: RowEditor<EntryInit> = {
    element,
    first: stripeId,
    number(path, ordinal) {
      legend.textContent = `Entry ${ordinal}`;
      element.dataset.field = path;
      stripeId.dataset.field = `${path}.stripe_id`;
      features.number(`${path}.features`);
    },
    read: () => ({ stripeId: stripeId.value.trim(), features: features.read() }),
  };
  addFeature.addEventListener('click', () => features.add(undefined).focus());
  removeEntry.addEventListener('click', () => onRemove(editor));
  return editor;
}

function featureRows(addFeature: HTMLButtonElement): Rows<CatalogFeature, FeatureInit> {
  return rowList(el('div', { class: 'features' }), addFeature, featureEditor);
}

/** Elements named by their path below a feature, whose own path moves with removals. */
class Paths {
  private readonly parts: Array<readonly [HTMLElement, string]> = [];

  add<T extends HTMLElement>(element: T, suffix: string): T {
    this.parts.push([element, suffix]);
    return element;
  }

  set(prefix: string): void {
    for (const [element, suffix] of this.parts) element.dataset.field = prefix + suffix;
  }
}

function featureEditor(
  feature: CatalogFeature | undefined,
  onRemove: (editor: RowEditor<FeatureInit>) => void,
): RowEditor<FeatureInit> {
  const paths = new Paths();
  const key = paths.add(
    input({ autocomplete: 'off', maxlength: '128', value: feature?.feature ?? '' }),
    '.feature',
  );
  const kind = choice(kindChoices, kindOf(feature));
  paths.add(kind.element, '.kind');
  const limit = limitInputs(paths, feature);
  const metered = meteredInputs(paths, feature);
  const legend = el('legend', {});
  const remove = el('button', { type: 'button', class: 'secondary' }, 'Remove feature');
  const element = paths.add(
    el(
      'fieldset',
      { class: 'feature' },
      legend,
      field('Feature key', key),
      field('Kind', kind.element),
      limit.part,
      metered.part,
      remove,
    ),
    '',
  );
  const showKind = () => {
    showPart(limit.part, kind.value() === FeatureKind.LIMIT);
    showPart(metered.part, kind.value() === FeatureKind.METERED);
  };
  kind.element.addEventListener('change', showKind);
  showKind();
  const editor: RowEditor<FeatureInit> = {
    element,
    first: key,
    number(path, ordinal) {
      paths.set(path);
      legend.textContent = `Feature ${ordinal}`;
    },
    read: () => readFeature(key.value.trim(), kind.value(), limit, metered),
  };
  remove.addEventListener('click', () => onRemove(editor));
  return editor;
}

/** Only what the kind uses is sent: the service refuses a limit on a metered feature. */
function readFeature(
  feature: string,
  kind: FeatureKind,
  limit: LimitInputs,
  metered: MeteredInputs,
): FeatureInit {
  if (kind === FeatureKind.LIMIT) return { feature, kind, ...limit.read() };
  if (kind === FeatureKind.METERED) return { feature, kind, ...metered.read() };
  return { feature, kind };
}

/** UNSPECIFIED (a message from before kinds) means what the service reads it as: from the limit. */
function kindOf(feature: CatalogFeature | undefined): FeatureKind {
  if (!feature) return FeatureKind.BOOLEAN;
  if (feature.kind !== FeatureKind.UNSPECIFIED) return feature.kind;
  return feature.limit === undefined ? FeatureKind.BOOLEAN : FeatureKind.LIMIT;
}

interface LimitInputs {
  readonly part: HTMLFieldSetElement;
  read(): Pick<FeatureInit, 'limit' | 'limitPerUnit'>;
}

function limitInputs(paths: Paths, feature: CatalogFeature | undefined): LimitInputs {
  const limit = paths.add(numberInput(feature?.limit), '.limit');
  const perUnit = paths.add(checkbox(feature?.limitPerUnit ?? false), '.limit_per_unit');
  return {
    part: part(field('Limit (empty: unlimited)', limit), check('Limit per unit', perUnit)),
    read: () => ({
      limit: limit.value === '' ? undefined : whole(limit.value),
      limitPerUnit: perUnit.checked,
    }),
  };
}

interface MeteredInputs {
  readonly part: HTMLFieldSetElement;
  read(): Pick<FeatureInit, 'metered' | 'creditPack'>;
}

function meteredInputs(paths: Paths, feature: CatalogFeature | undefined): MeteredInputs {
  const rules = meteredRules(paths, feature?.metered);
  const pack = creditPackInputs(paths, feature?.creditPack);
  // A pack gives credits instead of a period allowance: the allowance is not asked then.
  const showAllowance = () => showPart(rules.allowancePart, !pack.chosen());
  pack.box.addEventListener('change', showAllowance);
  showAllowance();
  return {
    part: part(pack.part, rules.part),
    read: () => ({ metered: rules.read(pack.chosen()), creditPack: pack.read() }),
  };
}

interface MeteredRules {
  readonly part: HTMLFieldSetElement;
  readonly allowancePart: HTMLFieldSetElement;
  read(creditPack: boolean): MessageInitShape<typeof CatalogFeatureSchema>['metered'];
}

function meteredRules(paths: Paths, metered: MeteredFeature | undefined): MeteredRules {
  const at = (suffix: string) => `.metered.${suffix}`;
  const allowance = paths.add(numberInput(metered?.allowance || undefined), at('allowance'));
  const perUnit = paths.add(checkbox(metered?.allowancePerUnit ?? false), at('allowance_per_unit'));
  const reset = choice(resetChoices, metered?.reset || ResetInterval.BILLING_PERIOD);
  const overage = choice(overageChoices, metered?.overage || OverageMode.BLOCK);
  paths.add(reset.element, at('reset'));
  paths.add(overage.element, at('overage'));
  const meter = paths.add(
    input({ autocomplete: 'off', maxlength: '100', value: metered?.stripeMeterEventName ?? '' }),
    at('stripe_meter_event_name'),
  );
  const allowancePart = part(field('Allowance', allowance), check('Allowance per unit', perUnit));
  return {
    allowancePart,
    part: part(
      allowancePart,
      field('Reset', reset.element),
      field('Overage', overage.element),
      field('Stripe meter event name (optional)', meter),
    ),
    read: (creditPack) => ({
      allowance: creditPack || allowance.value === '' ? 0n : whole(allowance.value),
      allowancePerUnit: !creditPack && perUnit.checked,
      reset: reset.value(),
      overage: overage.value(),
      stripeMeterEventName: meter.value.trim(),
    }),
  };
}

interface CreditPackInputs {
  readonly part: HTMLFieldSetElement;
  readonly box: HTMLInputElement;
  chosen(): boolean;
  read(): MessageInitShape<typeof CatalogFeatureSchema>['creditPack'];
}

function creditPackInputs(paths: Paths, pack: CreditPack | undefined): CreditPackInputs {
  const box = paths.add(checkbox(pack !== undefined), '.credit_pack');
  const amount = paths.add(numberInput(pack?.amountPerUnit), '.credit_pack.amount_per_unit');
  const days = paths.add(
    numberInput(pack === undefined ? undefined : BigInt(pack.expiresAfterDays)),
    '.credit_pack.expires_after_days',
  );
  const fields = part(
    field('Credits per unit bought', amount),
    field('Credits expire after (days, 0: never)', days),
  );
  const showFields = () => showPart(fields, box.checked);
  box.addEventListener('change', showFields);
  showFields();
  return {
    part: part(check('Credit pack (a one-time purchase gives credits)', box), fields),
    box,
    chosen: () => box.checked,
    read: () =>
      box.checked
        ? {
            amountPerUnit: amount.value === '' ? 0n : whole(amount.value),
            expiresAfterDays: Number(days.value === '' ? 0n : whole(days.value, int32Max)),
          }
        : undefined,
  };
}

const int64Max = 2n ** 63n - 1n;
const int32Max = 2n ** 31n - 1n;

/**
 * The browser has checked it is a whole number (step 1), maybe written as
 * 1e3; past the field's range it is clamped so it still encodes, and the
 * service refuses it with its own message.
 */
function whole(value: string, max = int64Max): bigint {
  const number = Number(value);
  if (!Number.isFinite(number)) return max;
  const big = BigInt(Math.trunc(number));
  return big > max ? max : big;
}

function numberInput(value: bigint | undefined): HTMLInputElement {
  // No minimum of 1 here: the service says what a value must be, at the field.
  return input({
    type: 'number',
    min: '0',
    step: '1',
    inputmode: 'numeric',
    value: value === undefined ? '' : String(value),
  });
}

function checkbox(checked: boolean): HTMLInputElement {
  const box = input({ type: 'checkbox' });
  box.checked = checked;
  return box;
}

/** A checkbox inside its label (clicking the words toggles it). */
function check(label: string, box: HTMLInputElement): HTMLElement {
  return el('p', { class: 'field' }, el('label', { class: 'check' }, box, ` ${label}`));
}

interface Choice<T> {
  readonly element: HTMLSelectElement;
  value(): T;
}

function choice<T>(choices: Choices<T>, selected: T): Choice<T> {
  const element = el(
    'select',
    {},
    ...choices.map(([value, label], i) =>
      el('option', { value: String(i), ...(value === selected ? { selected: '' } : {}) }, label),
    ),
  );
  const first = choices[0];
  if (!first) throw new Error('a choice needs options');
  return { element, value: () => (choices[element.selectedIndex] ?? first)[0] };
}

/** A group of inputs shown together; hidden ones are disabled, so they neither validate nor submit. */
function part(...children: HTMLElement[]): HTMLFieldSetElement {
  return el('fieldset', { class: 'part' }, ...children);
}

function showPart(group: HTMLFieldSetElement, shown: boolean): void {
  group.hidden = !shown;
  group.disabled = !shown;
}

/** One refusal is shown at a time (the next save clears it), so one id serves. */
const errorId = 'catalog-error';
const focusable = 'input, select, textarea, button';

/**
 * INVALID_ARGUMENT names the field (`entries[0].stripe_id: ...`): the
 * problem is shown at the nearest element for that path, which takes focus.
 * Other errors are the caller's (announced).
 */
function markInvalid(form: HTMLFormElement, error: unknown): boolean {
  const refused = ConnectError.from(error);
  if (refused.code !== Code.InvalidArgument) return false;
  const [, path = '', problem = refused.rawMessage] =
    /^([a-z_][a-z0-9_.[\]]*): (.+)$/s.exec(refused.rawMessage) ?? [];
  const target = elementFor(form, path);
  const message = el('span', { class: 'error', role: 'alert', id: errorId }, problem);
  target.setAttribute('aria-invalid', 'true');
  target.setAttribute('aria-describedby', message.id);
  placeMessage(form, target, message);
  // A fieldset or the form takes focus only with a tabindex; it goes with the mark.
  if (!target.matches(focusable)) target.tabIndex = -1;
  target.focus();
  return true;
}

/** The element of the path, or of its nearest shown parent (`a.b[1].c`, `a.b[1]`, `a.b`...). */
function elementFor(form: HTMLFormElement, path: string): HTMLElement {
  const parts = path.match(/\.?[a-z0-9_]+|\[\d+\]/g) ?? [];
  for (let n = parts.length; n > 0; n--) {
    const selector = `[data-field="${CSS.escape(parts.slice(0, n).join(''))}"]`;
    const found = form.querySelector<HTMLElement>(selector);
    if (found && !found.closest('[hidden]')) return found;
  }
  return form;
}

function placeMessage(form: HTMLFormElement, target: HTMLElement, message: HTMLElement): void {
  const holder = target.closest('.field');
  if (holder) holder.append(message);
  else if (target === form) form.append(message);
  else target.after(message);
}

function clearMarks(form: HTMLFormElement): void {
  for (const message of form.querySelectorAll('.error[role="alert"]')) message.remove();
  for (const marked of [form, ...form.querySelectorAll('[aria-invalid]')]) {
    marked.removeAttribute('aria-invalid');
    marked.removeAttribute('aria-describedby');
    if (!marked.matches(focusable)) marked.removeAttribute('tabindex');
  }
}
