// A desktop session's page: noVNC (vendored, /static/novnc/rfb.js) draws the session's screen
// from the RFB bytes Haven relays over the WebSocket. The clipboard is never wired (and is off in
// the X server itself): only the picture and the keys and pointer cross.
import '/static/novnc/rfb.js';

const screen = document.getElementById('screen');
const state = document.getElementById('desktop-state');
if (screen) {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + screen.dataset.socket;
  const rfb = new window.RFB(screen, url, { shared: false });
  rfb.scaleViewport = true;
  rfb.resizeSession = false;
  rfb.focusOnClick = true;
  rfb.addEventListener('connect', () => { state.textContent = 'Connected.'; });
  rfb.addEventListener('disconnect', (e) => {
    state.textContent = e.detail.clean
      ? 'The desktop closed: the session ended, or it was opened in another window. Reload to reconnect.'
      : 'The connection broke. Reload to reconnect; the session goes on.';
  });
}
