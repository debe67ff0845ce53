/**
 * The operator console (GET /console): sign in with an admin API key, then
 * pages by hash (`#/customers`, `#/customers/<id>`, `#/catalog`, `#/keys`,
 * `#/audit`, `#/reconciliation`, `#/business`, `#/settings`). Every call goes to the
 * public API of this origin (Connect), with the key as a bearer. Signing
 * out, or a key refused later (revoked), forgets the key and shows the
 * sign-in form with why.
 */
import { admin, describeError, isUnauthenticated } from './api.js';
import { businessPage } from './business.js';
import { catalogPage } from './catalog.js';
import { customerPage, customerSearch } from './customers.js';
import { announce, el, field, input } from './dom.js';
import { apiKeysPage, auditPage, reconciliationPage } from './operations.js';
import { currentKey, forgetKey, keepKey } from './session.js';
import { settingsPage } from './settings.js';

const main = () => document.getElementById('main');

function go(hash: string): void {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

function signInForm(problem?: string): HTMLElement {
  const key = input({ type: 'password', name: 'key', required: '', autocomplete: 'off' });
  const form = el(
    'form',
    { 'aria-label': 'Sign in' },
    field('Admin API key', key),
    el('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    keepKey(key.value.trim());
    await render();
  });
  return el(
    'section',
    { class: 'sign-in' },
    el('h2', {}, 'Sign in'),
    problem ? el('p', { class: 'error', role: 'alert' }, problem) : null,
    form,
    el(
      'p',
      { class: 'hint' },
      'The key stays in this tab only (session storage) and is sent with each call.',
    ),
  );
}

function signOut(): void {
  forgetKey();
  document.getElementById('project')?.replaceChildren();
  announce('Signed out.');
  void render();
}

function header(projectName: string, projectId: string): void {
  const button = el('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  button.addEventListener('click', signOut);
  document
    .getElementById('project')
    ?.replaceChildren(
      el('span', {}, `${projectName} (${projectId})`),
      el(
        'nav',
        { 'aria-label': 'Pages' },
        ...pages.map(([hash, label]) => el('a', { href: hash }, label)),
      ),
      button,
    );
}

const pages: ReadonlyArray<[string, string]> = [
  ['#/customers', 'Customers'],
  ['#/catalog', 'Catalog'],
  ['#/keys', 'API keys'],
  ['#/audit', 'Audit log'],
  ['#/reconciliation', 'Reconciliation'],
  ['#/business', 'Business'],
  ['#/settings', 'Settings'],
];

async function page(): Promise<HTMLElement> {
  const [, area, id] = location.hash.split('/');
  if (area === 'customers' && id) return customerPage(decodeURIComponent(id));
  if (area === 'catalog') return catalogPage();
  if (area === 'keys') return apiKeysPage();
  if (area === 'audit') return auditPage();
  if (area === 'reconciliation') return reconciliationPage();
  if (area === 'business') return businessPage();
  if (area === 'settings') return settingsPage();
  return customerSearch(go);
}

async function render(): Promise<void> {
  const target = main();
  if (!target) return;
  if (!currentKey()) {
    target.replaceChildren(signInForm());
    return;
  }
  try {
    const { project } = await admin.getProject({});
    header(project?.name ?? '', project?.id ?? '');
    target.replaceChildren(await page());
  } catch (error) {
    forgetKey();
    document.getElementById('project')?.replaceChildren();
    target.replaceChildren(
      signInForm(
        isUnauthenticated(error)
          ? `That key was refused: ${describeError(error)}`
          : `Could not sign in: ${describeError(error)}`,
      ),
    );
  }
}

window.addEventListener('hashchange', () => void render());
void render();
