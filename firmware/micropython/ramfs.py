# A filesystem in RAM for MicroPython boards and emulators that have none (the qemu port's
# boards): enough of the VFS protocol for open/read/write, import (.py and .mpy), os.listdir,
# os.stat, mkdir/remove/rename, and mpremote's fs and mip commands. Its content is gone at the
# next reset. `fxlearn mp --ramfs` sends this file and mounts it; by hand:
#     import ramfs; ramfs.mount()          # at "/", with /lib on sys.path
import io
import sys
import vfs

_DIR, _FILE = 0x4000, 0x8000


class _File(io.IOBase):
    def __init__(self, data, text, append):
        self._data = data
        self._pos = len(data) if append else 0
        self._text = text

    def readinto(self, buf):   # buf: bytes-like (bytearray, memoryview of bytes)
        n = min(len(buf), len(self._data) - self._pos)
        buf[:n] = memoryview(self._data)[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, n=-1):
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        out = bytes(memoryview(self._data)[self._pos:end])
        self._pos = end
        return out.decode() if self._text else out

    def readline(self):
        start = end = self._pos
        while end < len(self._data):
            end += 1
            if self._data[end - 1] == 10:
                break
        self._pos = end
        out = bytes(memoryview(self._data)[start:end])
        return out.decode() if self._text else out

    def write(self, buf):
        if isinstance(buf, str):
            buf = buf.encode()
        n = len(buf)
        overlap = min(n, len(self._data) - self._pos)
        if overlap:
            self._data[self._pos:self._pos + overlap] = buf[:overlap]
        if overlap < n:
            self._data.extend(buf[overlap:])
        self._pos += n
        return n

    def seek(self, offset, whence=0):
        base = (0, self._pos, len(self._data))[whence]
        self._pos = max(0, min(len(self._data), base + offset))
        return self._pos

    def tell(self):
        return self._pos

    def flush(self):
        pass

    def close(self):
        pass

    def ioctl(self, request, arg):
        return 0 if request in (1, 4) else -1   # MP_STREAM_FLUSH, MP_STREAM_CLOSE

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class RamFS:
    def __init__(self):
        self._files = {}
        self._dirs = {"/"}
        self._cwd = "/"

    def _abs(self, path):
        if not path.startswith("/"):
            path = self._cwd.rstrip("/") + "/" + path
        parts = []
        for p in path.split("/"):
            if p == "..":
                if parts:
                    parts.pop()
            elif p and p != ".":
                parts.append(p)
        return "/" + "/".join(parts)

    def _parent_ok(self, path):
        if (path.rpartition("/")[0] or "/") not in self._dirs:
            raise OSError(2)       # ENOENT

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        path = self._abs(path)
        text = "b" not in mode
        if "w" in mode or "a" in mode or "x" in mode:
            self._parent_ok(path)
            if path in self._dirs:
                raise OSError(21)  # EISDIR
            if "w" in mode or path not in self._files:
                self._files[path] = bytearray()
        elif path not in self._files:
            raise OSError(2)
        return _File(self._files[path], text, "a" in mode)

    def stat(self, path):
        path = self._abs(path)
        if path in self._dirs:
            return (_DIR, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if path in self._files:
            return (_FILE, 0, 0, 0, 0, 0, len(self._files[path]), 0, 0, 0)
        raise OSError(2)

    def ilistdir(self, path):
        path = self._abs(path)
        if path not in self._dirs:
            raise OSError(2)
        prefix = path.rstrip("/") + "/"
        for d in sorted(self._dirs):
            if d != path and d.startswith(prefix) and "/" not in d[len(prefix):]:
                yield (d[len(prefix):], _DIR, 0, 0)
        for f in sorted(self._files):
            if f.startswith(prefix) and "/" not in f[len(prefix):]:
                yield (f[len(prefix):], _FILE, 0, len(self._files[f]))

    def mkdir(self, path):
        path = self._abs(path)
        if path in self._dirs or path in self._files:
            raise OSError(17)  # EEXIST
        self._parent_ok(path)
        self._dirs.add(path)

    def rmdir(self, path):
        path = self._abs(path)
        if path == "/" or path not in self._dirs:
            raise OSError(2)
        if any(self.ilistdir(path)):
            raise OSError(39)  # ENOTEMPTY
        self._dirs.discard(path)

    def remove(self, path):
        path = self._abs(path)
        if path not in self._files:
            raise OSError(2)
        del self._files[path]

    def rename(self, old, new):
        old, new = self._abs(old), self._abs(new)
        if old not in self._files:
            raise OSError(2)
        self._parent_ok(new)
        self._files[new] = self._files.pop(old)

    def chdir(self, path):
        path = self._abs(path)
        if path not in self._dirs:
            raise OSError(2)
        self._cwd = path

    def getcwd(self):
        return self._cwd

    def statvfs(self, path):
        used = sum(len(f) for f in self._files.values())
        return (512, 512, used // 512 + 1024, 1024, 1024, 0, 0, 0, 0, 255)


def mount(path="/"):
    """Mount a fresh RAM filesystem at `path` (with a /lib on sys.path when at "/")."""
    fs = RamFS()
    vfs.mount(fs, path)
    if path == "/":
        fs.mkdir("/lib")
        import os
        os.chdir("/")
        if "/lib" not in sys.path:
            sys.path.append("/lib")
    return fs
