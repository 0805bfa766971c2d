// tus-js-client (the client of Uppy and most browser pages) under Node against Haven's tus
// endpoint: one upload sent whole in a single PATCH (its default), one in 512 KiB chunks with the
// first sent during creation. Prints one JSON line with both uploads' URLs.
//
// Usage: node tus_js.mjs ENDPOINT TOKEN FILE   (NODE_PATH: where tus-js-client is installed)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH, 'noop.js'));
const tus = require('tus-js-client');
const [endpoint, token, path] = process.argv.slice(2);
const bytes = readFileSync(path);

function send(name, options) {
  return new Promise((resolve, reject) => {
    let progressed = 0;
    const upload = new tus.Upload(bytes, {
      endpoint,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { asset: 'heart', filename: name },
      retryDelays: [0, 500],
      onProgress: (sent) => { progressed = sent; },
      onError: reject,
      onSuccess: () => resolve({ url: upload.url, progressed }),
      ...options,
    });
    upload.start();
  });
}

try {
  const whole = await send('whole.bin', {});
  const chunked = await send('chunked.bin', { chunkSize: 512 * 1024, uploadDataDuringCreation: true });
  console.log(JSON.stringify({ whole, chunked }));
} catch (e) {
  console.error(`tus-js-client failed: ${e}`);
  process.exit(1);
}
