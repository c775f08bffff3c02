/**
 * The one way the board talks to its server. Every call carries the session cookie and the CSRF
 * token; every answer is FATE's envelope {retcode, retmsg, data, meta}. A failure is shown in the
 * error banner and answered as null, so a page never dies of one failed call and no promise is
 * left rejected (the browser console stays clean).
 */
import { showError } from './dom.js';

/** What GET /board/session said: {auth_required, logged_in, user, csrf_token}. */
export const session = { auth_required: false, logged_in: false, user: null, csrf_token: null };

let onUnauthorized = () => {};
/** main.js registers what to do when the server says the session is gone (show the login form). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/**
 * Send one request. Returns the envelope when retcode == 0 (or when opts.quiet(envelope) says the
 * non-zero retcode is an expected answer the page shows itself, e.g. "no summary"), else null after
 * showing retmsg in the banner. opts.signal aborts it silently when the page is left; opts.raw
 * answers the parsed body as it is (null on an HTTP error), for the board's own non-FATE answers.
 */
export async function request(method, path, body, opts = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token || '' },
    signal: opts.signal,
  };
  if (method !== 'GET') init.body = JSON.stringify(body ?? {});
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') return null;
    showError(`${path}: the server did not answer (${err && err.message ? err.message : err})`);
    return null;
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch (err) {
    if (err && err.name === 'AbortError') return null;
    envelope = null;
  }
  if (opts.raw) return response.ok ? envelope : null; // /board/session answers a plain object
  if (response.status === 401 || (envelope && envelope.retcode === 401)) {
    onUnauthorized();
    return null;
  }
  if (!envelope || typeof envelope !== 'object' || !('retcode' in envelope)) {
    showError(`${path}: HTTP ${response.status}, not a FATE answer`);
    return null;
  }
  if (envelope.retcode !== 0) {
    if (opts.quiet && opts.quiet(envelope)) return envelope;
    showError(`${path}: ${envelope.retmsg || `retcode ${envelope.retcode}`}`);
    return null;
  }
  return envelope;
}

/** POST a JSON body (every FATE-Flow API). */
export const call = (path, body, opts) => request('POST', path, body, opts);

/** Ask the server who we are; a server without the board's session API counts as "no login". */
export async function loadSession() {
  const answer = await request('GET', '/board/session', null, { raw: true });
  if (answer && typeof answer === 'object') {
    // the session answer is a plain object, or the same inside an envelope's data
    const data = 'auth_required' in answer ? answer : (answer.data || {});
    Object.assign(session, {
      auth_required: Boolean(data.auth_required), logged_in: Boolean(data.logged_in),
      user: data.user ?? null, csrf_token: data.csrf_token ?? null,
    });
  }
  return session;
}

/** Log in; resolves {ok, message}. The server sets the cookie, we keep the CSRF token. */
export async function login(user, password) {
  let response;
  try {
    response = await fetch('/board/login', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token || '' },
      body: JSON.stringify({ user, password }),
    });
  } catch (err) {
    return { ok: false, message: 'the server did not answer' };
  }
  let envelope = null;
  try { envelope = await response.json(); } catch (err) { envelope = null; }
  if (envelope && envelope.retcode === 0) {
    const data = envelope.data || {};
    Object.assign(session, { logged_in: true, user: data.user ?? user, csrf_token: data.csrf_token ?? null });
    return { ok: true };
  }
  return { ok: false, message: (envelope && envelope.retmsg) || `login failed (HTTP ${response.status})` };
}

/** Log out (the server drops the session); the caller shows the login form again. */
export async function logout() {
  await request('POST', '/board/logout', {}, { quiet: () => true });
  Object.assign(session, { logged_in: false, user: null, csrf_token: null });
}
