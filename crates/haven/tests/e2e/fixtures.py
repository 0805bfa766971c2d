"""Build local upstream repositories for the package tests, laid out as each ecosystem's own:
a PyPI simple index (PEP 691 JSON with upload times and core metadata), a CRAN repository
(src/contrib with PACKAGES and an Archive) and a conda channel (noarch with repodata.json).

    python3 fixtures.py OUT_DIR [--corrupt]

Every package is real enough for its client to install: wheels with dist-info, R source
packages with DESCRIPTION and NAMESPACE, conda .tar.bz2 with info/index.json and paths.json.
Upload times are set relative to now: most packages are 30 days old, a few 1 day old (for the
cooldown). `corrupt` packages are listed with the hash of other bytes than their file holds.
"""
import base64
import bz2
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import zipfile

DAY = 86400
NOW = time.time()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# --- PyPI -----------------------------------------------------------------------------------

PYPI = [
    # (name, version, requires, age in days)
    ("alpha", "1.0", ["beta>=1", "delta; python_version < '3'"], 30),
    ("beta", "1.0", [], 30),
    ("beta", "2.0", [], 1),
    ("gamma", "1.0", [], 30),
    ("corrupt", "1.0", [], 30),
]


def wheel(name, version, requires):
    dist = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: Haven test package {name}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": metadata.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: haven-fixtures\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return buf.getvalue(), metadata.encode()


def build_pypi(root, corrupt_all=False):
    pages = {}
    for name, version, requires, age in PYPI:
        data, metadata = wheel(name, version, requires)
        filename = f"{name}-{version}-py3-none-any.whl"
        # Each project's files beside its page (a static layout: the configured upstream is
        # the simple root, and Haven reads nothing outside it).
        files_dir = os.path.join(root, "pypi", "simple", name)
        os.makedirs(files_dir, exist_ok=True)
        with open(os.path.join(files_dir, filename), "wb") as f:
            f.write(data)
        with open(os.path.join(files_dir, filename + ".metadata"), "wb") as f:
            f.write(metadata)
        declared = sha256(data)
        if name == "corrupt" or corrupt_all:
            declared = sha256(data + b"tampered")
        pages.setdefault(name, []).append({
            "filename": filename,
            "url": filename,
            "hashes": {"sha256": declared},
            "requires-python": ">=3.8",
            "core-metadata": {"sha256": sha256(metadata)},
            "size": len(data),
            "upload-time": iso(NOW - age * DAY),
            "yanked": False,
        })
    for name, files in pages.items():
        page_dir = os.path.join(root, "pypi", "simple", name)
        os.makedirs(page_dir, exist_ok=True)
        versions = sorted({f["filename"].split("-")[1] for f in files})
        page = {"meta": {"api-version": "1.4"}, "name": name, "files": files, "versions": versions}
        with open(os.path.join(page_dir, "index.json"), "w") as f:
            json.dump(page, f)


# --- CRAN -----------------------------------------------------------------------------------

CRAN = [
    # (package, version, imports, age in days, archived)
    ("hvnA", "1.0", ["hvnB (>= 1.0)"], 30, False),
    ("hvnB", "1.1", [], 30, False),
    ("hvnB", "1.0", [], 60, True),
    ("hvnC", "1.0", [], 30, False),
    ("hvnBad", "1.0", [], 30, False),
]


def r_package(pkg, version, imports):
    description = (
        f"Package: {pkg}\nVersion: {version}\nTitle: Haven Test Package\n"
        f"Description: A package for Haven's repository tests.\nAuthor: Haven\n"
        f"Maintainer: Haven <haven@example.org>\nLicense: MIT + file LICENSE\n"
    )
    if imports:
        description += "Imports: " + ", ".join(imports) + "\n"
    files = {
        f"{pkg}/DESCRIPTION": description.encode(),
        f"{pkg}/NAMESPACE": f"export({pkg}_version)\n".encode(),
        f"{pkg}/LICENSE": b"YEAR: 2026\nCOPYRIGHT HOLDER: Haven\n",
        f"{pkg}/R/{pkg}.R": f'{pkg}_version <- function() "{version}"\n'.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_cran(root, corrupt_all=False):
    contrib = os.path.join(root, "cran", "src", "contrib")
    os.makedirs(contrib, exist_ok=True)
    records = []
    for pkg, version, imports, age, archived in CRAN:
        data = r_package(pkg, version, imports)
        folder = os.path.join(contrib, "Archive", pkg) if archived else contrib
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{pkg}_{version}.tar.gz")
        with open(path, "wb") as f:
            f.write(data)
        t = NOW - age * DAY
        os.utime(path, (t, t))
        if archived:
            continue
        md5 = hashlib.md5(data).hexdigest()
        if pkg == "hvnBad" or corrupt_all:
            md5 = hashlib.md5(data + b"tampered").hexdigest()
        record = f"Package: {pkg}\nVersion: {version}\n"
        if imports:
            record += "Imports: " + ", ".join(imports) + "\n"
        record += f"License: MIT + file LICENSE\nMD5sum: {md5}\nNeedsCompilation: no\n"
        records.append(record)
    with open(os.path.join(contrib, "PACKAGES"), "w") as f:
        f.write("\n".join(records))


# --- conda ----------------------------------------------------------------------------------

CONDA = [
    # (name, version, depends, age in days)
    ("pkga", "1.0", ["pkgb >=1,<2"], 30),
    ("pkgb", "1.0", [], 30),
    ("pkgb", "2.0", [], 30),
    ("pkgc", "1.0", [], 30),
]


def conda_package(name, version, depends, timestamp_ms):
    index = {
        "name": name, "version": version, "build": "0", "build_number": 0, "depends": depends,
        "license": "MIT", "subdir": "noarch", "noarch": "generic", "timestamp": timestamp_ms,
    }
    payload = f"{name} {version}\n".encode()
    paths = {"paths": [{"_path": f"share/haven-test/{name}.txt", "path_type": "hardlink",
                         "sha256": sha256(payload), "size_in_bytes": len(payload)}], "paths_version": 1}
    files = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        f"share/haven-test/{name}.txt": payload,
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    return bz2.compress(raw.getvalue()), index


def build_conda(root, corrupt_all=False):
    sub = os.path.join(root, "conda", "haven-test", "noarch")
    os.makedirs(sub, exist_ok=True)
    packages = {}
    for name, version, depends, age in CONDA:
        ts = int((NOW - age * DAY) * 1000)
        data, index = conda_package(name, version, depends, ts)
        filename = f"{name}-{version}-0.tar.bz2"
        with open(os.path.join(sub, filename), "wb") as f:
            f.write(data)
        record = dict(index)
        record["sha256"] = sha256(data if not corrupt_all else data + b"x")
        record["md5"] = hashlib.md5(data).hexdigest()
        record["size"] = len(data)
        packages[filename] = record
    repodata = {"info": {"subdir": "noarch"}, "repodata_version": 1, "packages": packages,
                "packages.conda": {}, "removed": []}
    with open(os.path.join(sub, "repodata.json"), "w") as f:
        json.dump(repodata, f)


if __name__ == "__main__":
    out = sys.argv[1]
    corrupt_all = "--corrupt" in sys.argv[2:]
    build_pypi(out, corrupt_all)
    build_cran(out, corrupt_all)
    build_conda(out, corrupt_all)
    print(json.dumps({"pypi": f"file://{os.path.abspath(out)}/pypi/simple/",
                      "cran": f"file://{os.path.abspath(out)}/cran/",
                      "conda": f"file://{os.path.abspath(out)}/conda/"}))
