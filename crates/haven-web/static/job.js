// Keeps a queued or running batch job's page current: asks for the page again every 5 seconds
// and puts in what changed (its state, its log), without reloading the page, which would move a
// screen reader's place. Stops once the job has finished.
const every = 5000;

async function refresh() {
  const shown = document.getElementById('job');
  if (!shown || shown.dataset.live !== 'true') return;
  try {
    const response = await fetch(location.pathname, { credentials: 'same-origin' });
    if (response.ok) {
      const next = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('job');
      if (next) shown.replaceWith(document.importNode(next, true));
    }
  } catch (e) {
    // Offline for a moment: the next turn tries again.
  }
  setTimeout(refresh, every);
}

setTimeout(refresh, every);
