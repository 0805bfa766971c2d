// Haven's uploader: many files, each a tus upload (the vendored tus-js-client, window.tus) with
// its own progress bar, speed, time left, and Pause/Resume. tus-js-client remembers unfinished
// uploads in this browser (localStorage, by the file's name, size and date), so choosing the
// same file after a reload or a lost connection carries on from the byte Haven acknowledged.
// Everything it needs comes from data- attributes: no inline script, as the CSP requires.
(function () {
  'use strict';
  var root = document.getElementById('uploader');
  if (!root || !window.tus) { return; }
  var endpoint = root.dataset.endpoint;
  var asset = root.dataset.asset;
  var csrf = root.dataset.csrf;
  var list = document.getElementById('upload-list');
  var input = document.getElementById('files');
  var zone = document.getElementById('dropzone');
  var password = document.getElementById('link-password');

  function headers() {
    var h = {};
    if (csrf) { h['X-CSRF-Token'] = csrf; }
    if (password && password.value) { h['Haven-Link-Password'] = password.value; }
    return h;
  }

  function size(n) {
    var units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + ' bytes' : n.toFixed(1) + ' ' + units[i];
  }

  function duration(s) {
    if (!isFinite(s) || s < 0) { return ''; }
    if (s < 60) { return Math.ceil(s) + ' s'; }
    if (s < 3600) { return Math.ceil(s / 60) + ' min'; }
    return (s / 3600).toFixed(1) + ' h';
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    return e;
  }

  // A receipt is fetched with the same headers as the upload, then saved as a file.
  function saveReceipt(url, name) {
    fetch(url + '/receipt', { headers: headers(), credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.blob(); })
      .then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'haven-receipt-' + name + '.json';
        document.body.appendChild(a);
        a.click();
        a.remove();
      })
      .catch(function (e) { alert('The receipt could not be saved: ' + e.message); });
  }

  function send(file) {
    if (password && !password.value) {
      password.focus();
      alert('Type the link\'s password first.');
      return;
    }
    var item = el('li', 'upload');
    var title = el('span', 'name', file.name + ' (' + size(file.size) + ')');
    var bar = el('progress');
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute('aria-label', 'Progress of ' + file.name);
    var status = el('span', 'status', 'Starting…');
    var button = el('button', 'secondary', 'Pause');
    button.type = 'button';
    item.append(title, bar, status, button);
    list.appendChild(item);

    var started = 0;
    var startedAt = 0;
    var paused = false;
    var metadata = { filename: file.name, filetype: file.type || 'application/octet-stream' };
    if (asset) { metadata.asset = asset; }
    var upload = new window.tus.Upload(file, {
      endpoint: endpoint,
      headers: headers(),
      metadata: metadata,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        if (!startedAt) { startedAt = Date.now(); started = sent; }
        bar.value = sent;
        var secs = (Date.now() - startedAt) / 1000;
        var rate = secs > 0.5 ? (sent - started) / secs : 0;
        var left = rate > 0 ? (total - sent) / rate : Infinity;
        status.textContent = size(sent) + ' of ' + size(total) +
          (rate > 0 ? ' · ' + size(rate) + '/s · ' + duration(left) + ' left' : '');
      },
      onError: function (error) {
        var text = (error && error.originalResponse && error.originalResponse.getBody()) || String(error);
        status.textContent = 'Not sent: ' + text.trim() + ' Choose the file again to carry on.';
        item.classList.add('failed');
        button.remove();
      },
      onSuccess: function (payload) {
        var response = payload && payload.lastResponse;
        var sha = response ? response.getHeader('Haven-Upload-Sha256') : '';
        bar.value = bar.max;
        status.textContent = 'Arrived' + (sha ? ' · SHA-256 ' + sha : '') + '. It will be scanned, then reviewed.';
        item.classList.add('done');
        button.textContent = 'Save receipt';
        button.onclick = function () { saveReceipt(upload.url, file.name); };
      }
    });
    button.onclick = function () {
      if (paused) {
        paused = false;
        startedAt = 0;
        button.textContent = 'Pause';
        status.textContent = 'Resuming…';
        upload.start();
      } else {
        paused = true;
        button.textContent = 'Resume';
        upload.abort();
        status.textContent = 'Paused at ' + size(bar.value) + '.';
      }
    };
    // An upload of this file that an earlier page started: carry on from where it stopped.
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        // A note of its own: the status line changes with every progress report.
        item.insertBefore(el('span', 'note', 'Carrying on from where it stopped.'), bar);
        status.textContent = 'Asking Haven where it stopped…';
      }
      upload.start();
    });
  }

  function sendAll(files) {
    for (var i = 0; i < files.length; i++) { send(files[i]); }
  }

  input.addEventListener('change', function () { sendAll(input.files); input.value = ''; });
  zone.addEventListener('dragover', function (e) { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', function () { zone.classList.remove('over'); });
  zone.addEventListener('drop', function (e) {
    e.preventDefault();
    zone.classList.remove('over');
    sendAll(e.dataTransfer.files);
  });
})();
