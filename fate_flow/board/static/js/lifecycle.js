/**
 * A page's (or a tab's) lifetime: an abort signal for its requests, timers and clean-ups (charts,
 * event streams) that all stop when it is disposed. A child context is disposed with its parent,
 * so leaving a page also closes the tab that was open in it.
 */
export function newContext(parent) {
  const controller = new AbortController();
  const disposers = [];
  const ctx = {
    signal: controller.signal,
    get alive() { return !controller.signal.aborted; },
    onDispose(fn) { disposers.push(fn); },
    /** setTimeout that is cancelled when the context goes away. */
    later(fn, ms) {
      const cancel = () => clearTimeout(id);
      const id = setTimeout(() => {
        const i = disposers.indexOf(cancel);
        if (i >= 0) disposers.splice(i, 1); // fired: nothing left to cancel
        if (ctx.alive) fn();
      }, ms);
      disposers.push(cancel);
      return id;
    },
    /** A context that ends with this one (or earlier). */
    child() { return newContext(ctx); },
    dispose() {
      if (controller.signal.aborted) return;
      controller.abort();
      for (const fn of disposers.splice(0)) {
        try { fn(); } catch (err) { /* one failed clean-up must not stop the others */ }
      }
    },
  };
  if (parent) parent.onDispose(() => ctx.dispose());
  return ctx;
}
