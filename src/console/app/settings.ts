/**
 * The project's settings: its name and grace period (how long a past_due
 * subscription keeps its features), and the Stripe webhook signing secret,
 * rotated after it was rolled in Stripe. Secrets are write-only here: the
 * page shows whether one is set, never its value.
 */
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import type { Project } from '../../../gen/billing/v1/admin_pb.js';
import { admin, describeError } from './api.js';
import { el, field, input, onSubmit, time } from './dom.js';

const day = 86_400;

export async function settingsPage(): Promise<HTMLElement> {
  const page = el('section', { 'aria-labelledby': 'settings-title' });
  const reload = async () => {
    try {
      const { project } = await admin.getProject({});
      page.replaceChildren(
        el('h2', { id: 'settings-title' }, 'Project settings'),
        project ? summary(project) : '',
        project ? termsForm(project, reload) : '',
        rotateForm(reload),
      );
    } catch (error) {
      page.replaceChildren(el('p', { class: 'error' }, describeError(error)));
    }
  };
  await reload();
  return page;
}

function summary(project: Project): HTMLElement {
  const set = (yes: boolean) => (yes ? 'set' : 'not set');
  return el(
    'dl',
    { id: 'project-summary' },
    el('dt', {}, 'Id'),
    el('dd', {}, project.id),
    el('dt', {}, 'Grace period'),
    el('dd', {}, `${graceDays(project)} days`),
    el('dt', {}, 'Stripe secret key'),
    el('dd', {}, set(project.hasStripeSecretKey)),
    el('dt', {}, 'Stripe webhook signing secret'),
    el('dd', {}, set(project.hasWebhookSigningSecret)),
    el('dt', {}, 'Updated'),
    el('dd', {}, time(project.updatedAt)),
  );
}

function graceDays(project: Project): number {
  return Number(project.gracePeriod?.seconds ?? 0n) / day;
}

function termsForm(project: Project, reload: () => Promise<void>): HTMLElement {
  const name = input({ name: 'name', required: '', maxlength: '100', value: project.name });
  const grace = input({
    name: 'grace',
    type: 'number',
    min: '0',
    max: '90',
    step: '1',
    required: '',
    value: String(graceDays(project)),
  });
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Project name and grace period' },
    field('Name', name),
    field('Grace period (days)', grace),
    field('Reason', reason),
    el('button', { type: 'submit' }, 'Save'),
  );
  onSubmit(form, async () => {
    await admin.updateProject({
      name: name.value.trim(),
      gracePeriod: durationFromMs(Number(grace.value) * day * 1000),
      reason: reason.value.trim(),
    });
    await reload();
    return 'Settings saved.';
  });
  return form;
}

function rotateForm(reload: () => Promise<void>): HTMLElement {
  const secret = input({ name: 'secret', type: 'password', required: '', autocomplete: 'off' });
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Rotate the Stripe webhook signing secret' },
    field('New signing secret (whsec_..., from Stripe)', secret),
    field('Reason', reason),
    el('button', { type: 'submit', class: 'danger' }, 'Rotate'),
  );
  onSubmit(form, async () => {
    await admin.rotateWebhookSecret({
      webhookSigningSecret: secret.value.trim(),
      reason: reason.value.trim(),
    });
    await reload();
    return 'Webhook signing secret rotated: Stripe events signed with it are accepted now.';
  });
  return el(
    'section',
    { 'aria-labelledby': 'rotate-title' },
    el('h3', { id: 'rotate-title' }, 'Stripe webhook signing secret'),
    form,
  );
}
