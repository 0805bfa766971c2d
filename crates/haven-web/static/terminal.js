// The terminal page: xterm.js attached to the session's WebSocket (binary both ways; resizes as
// {"cols","rows"} text messages). Copying out is off (no selection reaches the clipboard); a
// paste over 64 KiB is refused here and by the server.
(function () {
  "use strict";
  var box = document.getElementById("terminal");
  var state = document.getElementById("terminal-state");
  if (!box) { return; }
  var MAX_PASTE = 64 * 1024;
  // xterm.js writes its colours and cell sizes into <style> elements; the page's policy lets
  // in only those carrying this page's nonce.
  var nonce = box.dataset.nonce;
  var make = document.createElement.bind(document);
  document.createElement = function (name, options) {
    var el = make(name, options);
    if (String(name).toLowerCase() === "style") { el.nonce = nonce; }
    return el;
  };
  // minimumContrastRatio: coloured output is lightened or darkened to stay readable (WCAG AA).
  var term = new window.Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 14, minimumContrastRatio: 4.5 });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  // No copying out: stopped on the way down, before xterm.js's own handler (on its textarea)
  // can put the selection on the clipboard.
  function noCopy(e) {
    e.preventDefault();
    e.stopImmediatePropagation();
    if (e.clipboardData) { e.clipboardData.setData("text/plain", ""); }
    say("Copying out of a session is off: results leave through an output request.");
  }
  box.addEventListener("copy", noCopy, true);
  box.addEventListener("cut", noCopy, true);
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + box.dataset.socket;
  var socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  var encoder = new TextEncoder();
  function say(text) { state.textContent = text; }
  function sendSize() {
    fit.fit();
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ cols: term.cols, rows: term.rows }));
    }
  }
  socket.onopen = function () { say("Connected."); sendSize(); term.focus(); };
  socket.onmessage = function (e) { term.write(new Uint8Array(e.data)); };
  socket.onclose = function (e) {
    say(e.reason || "Disconnected. Reload the page to reconnect; the session keeps running until you stop it.");
    term.options.disableStdin = true;
  };
  term.onData(function (data) {
    var bytes = encoder.encode(data);
    if (bytes.length > MAX_PASTE) {
      say("That paste is " + bytes.length + " bytes; at most " + MAX_PASTE + " can be pasted. Bring data in through File Transfer.");
      return;
    }
    if (socket.readyState === WebSocket.OPEN) { socket.send(bytes); }
  });
  window.addEventListener("resize", sendSize);
})();
