// A web session's page, reached from Launch, while its application starts: asks the
// application's status every half second, says how long it has waited, and opens the
// application once it answers. Reached later (to stop it, say), the page stays.
const state = document.getElementById('web-state');
if (state && state.dataset.open === 'true') {
  const lab = state.dataset.lab;
  const ready = state.dataset.ready;
  const started = Date.now();
  const poll = async () => {
    try {
      const r = await fetch(ready, { credentials: 'same-origin' });
      if (r.ok && (await r.json()).ready) {
        state.textContent = 'Ready: opening it now.';
        location.replace(lab);
        return;
      }
      if (!r.ok) {
        state.textContent = `It did not start (${r.status}). Reload this page to see what it printed.`;
        return;
      }
    } catch (e) {
      // The network blinked: ask again.
    }
    const waited = Math.round((Date.now() - started) / 1000);
    if (waited > 120) {
      state.textContent = 'It has not answered in two minutes: it may have failed to start. Reload this page to see what it printed, or stop it and start it again.';
      return;
    }
    state.textContent = `Starting… ${waited} s`;
    setTimeout(poll, 500);
  };
  poll();
}
