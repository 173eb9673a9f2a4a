"""Small file operations through Hadoop's FileSystem, so they work on any lake.

Checkpoints and tables may live on the local disk, HDFS, S3 or ADLS; Python's
``pathlib`` only knows the first. These helpers go through the JVM's Hadoop
``FileSystem`` of the running SparkSession instead.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

# object stores whose writes appear whole when the stream closes
_WHOLE_OBJECT_SCHEMES = {"s3a", "gs"}


def _path(spark: SparkSession, path: str):
    jvm = spark._jvm  # type: ignore[attr-defined]
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath, hpath.getFileSystem(spark._jsc.hadoopConfiguration())  # type: ignore[attr-defined]


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists."""
    hpath, fs = _path(spark, path)
    return bool(fs.exists(hpath))


def read_text(spark: SparkSession, path: str) -> str:
    """A whole (small) file as UTF-8 text."""
    hpath, fs = _path(spark, path)
    stream = fs.open(hpath)
    try:
        jvm = spark._jvm  # type: ignore[attr-defined]
        data = jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode("utf-8")


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small UTF-8 file atomically: a temporary file, then a rename
    (on object stores, one PUT).

    Readers never see a half-written file, even if the writer is killed.
    Replaces an existing file.
    """
    import uuid

    hpath, fs = _path(spark, path)
    if str(fs.getScheme()) in _WHOLE_OBJECT_SCHEMES:
        # an object store shows a PUT whole or not at all; its "rename" is a copy and a
        # delete, which would leave a moment with no file at all
        stream = fs.create(hpath, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        return
    tmp, _ = _path(spark, f"{path}.{uuid.uuid4().hex}.tmp")
    stream = fs.create(tmp, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    if fs.exists(hpath):
        fs.delete(hpath, False)
    if not fs.rename(tmp, hpath):
        fs.delete(tmp, False)
        raise OSError(f"could not write {path}")


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Rename a file or folder; raises OSError when the file system refuses."""
    src, fs = _path(spark, source)
    dst, _ = _path(spark, target)
    if not fs.rename(src, dst):
        raise OSError(f"could not rename {source} to {target}")


def mkdirs(spark: SparkSession, path: str) -> None:
    """Create a folder and its parents (nothing when it exists)."""
    hpath, fs = _path(spark, path)
    if not fs.mkdirs(hpath):
        raise OSError(f"could not create {path}")


def list_names(spark: SparkSession, path: str) -> list[str]:
    """Names of the entries of a folder (empty when it does not exist)."""
    hpath, fs = _path(spark, path)
    if not fs.exists(hpath):
        return []
    return sorted(str(status.getPath().getName()) for status in fs.listStatus(hpath))


def list_files(spark: SparkSession, path: str) -> list[tuple[str, int, int]]:
    """(path, length, modification time in ms) of every file below ``path``, recursively,
    leaving out hidden ones (``_`` or ``.`` names, as Spark's readers do); a file path
    lists itself; empty when nothing is there."""
    hpath, fs = _path(spark, path)
    if not fs.exists(hpath):
        return []
    found = []
    files = fs.listFiles(hpath, True)
    while files.hasNext():
        status = files.next()
        full = str(status.getPath())
        relative = full[len(str(hpath)) :].lstrip("/").split("/")
        if any(part.startswith(("_", ".")) for part in relative if part):
            continue
        found.append((full, int(status.getLen()), int(status.getModificationTime())))
    return sorted(found)


def delete(spark: SparkSession, path: str) -> None:
    """Delete a file or a folder with everything in it (nothing when it does not exist)."""
    hpath, fs = _path(spark, path)
    if fs.exists(hpath):
        fs.delete(hpath, True)


def remove_empty_folders(spark: SparkSession, path: str) -> bool:
    """Remove ``path`` and the folders below it if none holds a file; whether it did.

    Folders are deleted one by one, deepest first, and never recursively, so
    a file that appears meanwhile is left alone (its folder's delete fails).
    On object stores this removes only the empty folder markers.
    """
    hpath, fs = _path(spark, path)
    if not fs.exists(hpath):
        return False
    folders = []
    pending = [hpath]
    while pending:
        current = pending.pop()
        folders.append(current)
        for status in fs.listStatus(current):
            if not status.isDirectory():
                return False
            pending.append(status.getPath())
    try:
        for folder in reversed(folders):  # children were listed after their parents
            fs.delete(folder, False)
    except Exception:  # something appeared meanwhile (another creator): not ours to remove
        return False
    return True
