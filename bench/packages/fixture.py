"""The benchmark's package set: a 20-package closure (bench-00 needs bench-01 … bench-19), each a
real wheel of about 200 KiB with core metadata, laid out twice: as a static PEP 503 index (the
upstream Haven and devpi mirror) and as a flat directory (what pypiserver serves).

    python3 fixture.py OUT_DIR
"""
import base64
import hashlib
import io
import os
import sys
import zipfile

N = 20


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel(name, requires):
    mod = name.replace("-", "_")
    dist = f"{mod}-1.0.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nLicense: MIT\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    payload = hashlib.sha256(name.encode()).digest() * (200 * 1024 // 32)
    files = {
        f"{mod}/__init__.py": b"VERSION = '1.0'\n",
        f"{mod}/data.bin": payload,
        f"{dist}/METADATA": metadata.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: haven-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for p, d in files.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2024, 1, 1, 0, 0, 0)), d)
    return f"{mod}-1.0-py3-none-any.whl", buf.getvalue(), metadata.encode()


def main(out):
    flat = os.path.join(out, "wheels")
    os.makedirs(flat, exist_ok=True)
    names = [f"bench-{i:02d}" for i in range(N)]
    index = ["<!DOCTYPE html><html><body>"]
    for i, name in enumerate(names):
        filename, data, metadata = wheel(name, names[1:] if i == 0 else [])
        page_dir = os.path.join(out, "simple", name)
        os.makedirs(page_dir, exist_ok=True)
        for d in (page_dir, flat):
            with open(os.path.join(d, filename), "wb") as f:
                f.write(data)
        with open(os.path.join(page_dir, filename + ".metadata"), "wb") as f:
            f.write(metadata)
        meta_hash = hashlib.sha256(metadata).hexdigest()
        with open(os.path.join(page_dir, "index.html"), "w") as f:
            f.write(
                '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0"></head><body>'
                f'<a href="{filename}#sha256={hashlib.sha256(data).hexdigest()}" data-requires-python="&gt;=3.8" '
                f'data-core-metadata="sha256={meta_hash}" data-dist-info-metadata="sha256={meta_hash}">{filename}</a>'
                "</body></html>\n"
            )
        index.append(f'<a href="{name}/">{name}</a>')
    with open(os.path.join(out, "simple", "index.html"), "w") as f:
        f.write("".join(index) + "</body></html>\n")
    print(" ".join(names))


if __name__ == "__main__":
    main(sys.argv[1])
