"""tuspy (the Python tus client) against Haven's tus endpoint: a connection that breaks in the
middle of a PATCH body, then the upload resumed by a new tuspy uploader given only its URL, with
a SHA-1 Upload-Checksum on every chunk. Prints one JSON line: the upload's URL, where it resumed.

Usage: tuspy_resume.py ENDPOINT TOKEN FILE
"""
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

from tusclient import client

endpoint, token, path = sys.argv[1:4]
size = os.path.getsize(path)
auth = {"Authorization": "Bearer " + token}
tus = client.TusClient(endpoint, headers=auth)

# Creation (POST) by tuspy; then half the bytes of a PATCH sent by hand, and the socket closed.
first = tus.uploader(path, metadata={"asset": "heart", "filename": "cohort 2026.csv"})
url = urllib.parse.urljoin(endpoint, first.create_url())
target = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
conn.putrequest("PATCH", target.path)
headers = {
    **auth,
    "Tus-Resumable": "1.0.0",
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": "0",
    "Content-Length": str(size),
}
for name, value in headers.items():
    conn.putheader(name, value)
conn.endheaders()
with open(path, "rb") as f:
    conn.send(f.read(size // 2))
conn.sock.shutdown(socket.SHUT_RDWR)
conn.close()

# A new uploader, as after the provider's machine restarted: it asks where the upload stands
# (HEAD) and sends the rest in 256 KiB chunks, each with its SHA-1. The server keeps what
# arrived once it has seen the connection end, which on a busy machine takes a moment: asked
# again for up to 15 seconds while it still says 0.
for _ in range(30):
    time.sleep(0.5)
    resumed = tus.uploader(path, url=url, chunk_size=256 * 1024, upload_checksum=True, retries=3, retry_delay=1)
    start = resumed.offset
    if start > 0:
        break
if not 0 < start <= size // 2:
    sys.exit(f"the upload should resume after the bytes that arrived, not at {start}")
resumed.upload()
print(json.dumps({"url": url, "resumed_from": start, "offset": resumed.offset}))
