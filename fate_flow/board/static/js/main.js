/**
 * The board's entry point: asks for the session, shows the login form when one is needed, then
 * routes the hash (#/jobs, #/job/<id>/<role>/<party>, ...) to one page module at a time. Each page
 * gets a context whose signal aborts its requests and whose timers and streams are stopped when
 * the user leaves, so nothing keeps polling in the background.
 */
import { session, loadSession, login, logout, setUnauthorizedHandler } from './api.js';
import { h, clear, clearErrors, showError } from './dom.js';
import { newContext } from './lifecycle.js';
import * as jobs from './jobs.js';
import * as job from './job.js';
import * as logs from './logs.js';
import * as data from './data.js';
import * as models from './models.js';
import * as party from './party.js';

const app = () => document.getElementById('app');

/** [pattern, page module, nav key]; a pattern's groups are the page's params (URI-decoded). */
const ROUTES = [
  [/^\/jobs$/, jobs, 'jobs'],
  [/^\/job\/([^/]+)\/([^/]+)\/([^/]+)$/, job, 'jobs'],
  [/^\/logs\/([^/]+)\/([^/]+)\/([^/]+)$/, logs, 'jobs'],
  [/^\/data$/, data, 'data'],
  [/^\/data\/([^/]+)\/([^/]+)$/, data, 'data'],
  [/^\/models$/, models, 'models'],
  [/^\/party$/, party, 'party'],
];

let current = null; // the page context on screen

/** Split "#/logs/a/b/c?component=x" into the path and its query. */
function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/jobs';
  const [path, qs] = raw.split('?', 2);
  return { path, query: new URLSearchParams(qs || '') };
}

function route() {
  if (current) current.dispose();
  current = null;
  clearErrors();
  if (session.auth_required && !session.logged_in) {
    renderNav();
    showLogin();
    return;
  }
  const { path, query } = parseHash();
  const found = ROUTES.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  if (!found) {
    window.location.replace('#/jobs');
    return;
  }
  const [match, page, nav] = found;
  renderNav(nav);
  const params = match.slice(1).map((p) => decodeURIComponent(p));
  const ctx = newContext();
  current = ctx;
  const root = clear(app());
  root.focus({ preventScroll: true });
  Promise.resolve()
    .then(() => page.render(root, params, query, ctx))
    .catch((err) => {
      if (!ctx.alive) return;
      showError(`this page failed: ${err && err.message ? err.message : err}`);
    });
}

/** The top bar's links (the current one marked), the user and the logout button. */
function renderNav(active) {
  const nav = document.getElementById('nav');
  const needLogin = session.auth_required && !session.logged_in;
  const item = (key, label) => h('a', {
    href: `#/${key}`, 'data-testid': `nav-${key}`, class: key === active ? 'active' : null,
    'aria-current': key === active ? 'page' : null,
  }, label);
  clear(nav,
    needLogin ? null : [item('jobs', 'Jobs'), item('data', 'Data'), item('models', 'Models'), item('party', 'Party')],
    h('span', { class: 'nav-spacer' }),
    session.logged_in && session.user ? h('span', { class: 'nav-user' }, session.user) : null,
    session.logged_in ? h('button', {
      type: 'button', class: 'button small', 'data-testid': 'logout',
      on: { click: async () => { await logout(); route(); } },
    }, 'Log out') : null);
}

/** The login form; on success the page the user asked for is shown. */
function showLogin() {
  const error = h('p', { class: 'login-error', 'data-testid': 'login-error', role: 'alert' });
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true, 'data-testid': 'login-user' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true, 'data-testid': 'login-password' });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'login-submit' }, 'Log in');
  const form = h('form', { class: 'login card', on: { submit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    const answer = await login(user.value, password.value);
    submit.disabled = false;
    if (answer.ok) route();
    else { error.textContent = answer.message; password.select(); }
  } } },
  h('h1', {}, 'Log in to the board'),
  h('label', { for: 'login-user' }, 'User'), user,
  h('label', { for: 'login-password' }, 'Password'), password,
  submit, error);
  clear(app(), form);
  user.focus();
}

async function start() {
  setUnauthorizedHandler(() => {
    if (session.auth_required && !session.logged_in) return; // the login form is already up
    session.auth_required = true;
    session.logged_in = false;
    route();
  });
  await loadSession();
  window.addEventListener('hashchange', route);
  route();
}

start();
