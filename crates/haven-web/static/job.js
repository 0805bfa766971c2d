// Keeps a queued or running batch job's page current: asks for the page again every 5 seconds
// while the tab is shown (for at most an hour) and puts in what changed (its state, its log),
// without reloading the page, which would move a screen reader's place. Stops once the job has
// finished. Copying the log out of the page is off, as in a terminal: results leave through an
// output request.
const every = 5000;
const until = Date.now() + 3600 * 1000;

function noCopy(e) {
  if (!e.target.closest || !e.target.closest('#job-log')) return;
  e.preventDefault();
  if (e.clipboardData) e.clipboardData.setData('text/plain', '');
  const note = document.getElementById('job-copy');
  if (note) note.textContent = 'Copying out of a job\'s log is off: results leave through an output request.';
}
document.addEventListener('copy', noCopy, true);
document.addEventListener('cut', noCopy, true);

async function refresh() {
  const shown = document.getElementById('job');
  if (!shown || shown.dataset.live !== 'true' || Date.now() > until) return;
  if (document.visibilityState === 'visible') {
    try {
      const response = await fetch(location.pathname, { credentials: 'same-origin' });
      if (response.ok) {
        const next = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('job');
        if (next) shown.replaceWith(document.importNode(next, true));
      }
    } catch (e) {
      // Offline for a moment: the next turn tries again.
    }
  }
  setTimeout(refresh, every);
}

setTimeout(refresh, every);
