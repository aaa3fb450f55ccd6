"""A small GGUF reader and writer, written from the format's specification (ggml's docs/gguf.md),
independent of tandem's C++ code: header, typed metadata, tensor infos, aligned data; F32, F16,
BF16, Q8_0 and Q4_0 tensors (Q8_0: blocks of 32 values, an f16 scale d = max|x| / 127 and 32 int8
q = round(x / d), rounding half away from zero as ggml's roundf does; Q4_0: blocks of 32, d =
(the value of largest magnitude) / -8 and 4-bit q = min(15, trunc(x / d + 8.5)), x = (q - 8) d,
element j in the low nibble of byte j and element j + 16 in its high nibble)."""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
# metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
          U64: "<Q", I64: "<q", F64: "<d"}
# tensor types (ggml ids)
T_F32, T_F16, T_Q4_0, T_Q8_0, T_BF16 = 0, 1, 2, 8, 30


class Reader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != GGUF_MAGIC:
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._u("<I")
        n_tensors, n_kv = self._u("<Q"), self._u("<Q")
        self.meta = {}
        for _ in range(n_kv):
            key = self._str()
            self.meta[key] = self._value(self._u("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            ttype = self._u("<I")
            off = self._u("<Q")
            infos.append((name, ne, ttype, off))
        align = self.meta.get("general.alignment", 32)
        data = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, ne, ttype, off in infos:
            self.tensors[name] = (ne, ttype, data + off)

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        n = self._u("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, t):
        if t == STR:
            return self._str()
        if t == ARR:
            et, n = self._u("<I"), self._u("<Q")
            return [self._value(et) for _ in range(n)]
        return self._u(SCALAR[t])

    def tensor(self, name):
        """The tensor as float32, shaped outermost first (numpy order: reversed ne)."""
        ne, ttype, off = self.tensors[name]
        n = int(np.prod(ne))
        shape = tuple(reversed(ne))
        if ttype == T_F32:
            return np.frombuffer(self.buf, np.float32, n, off).reshape(shape).copy()
        if ttype == T_F16:
            return np.frombuffer(self.buf, np.float16, n, off).astype(np.float32).reshape(shape)
        if ttype == T_BF16:
            raw = np.frombuffer(self.buf, np.uint16, n, off).astype(np.uint32) << 16
            return raw.view(np.float32).reshape(shape)
        if ttype == T_Q8_0:
            nb = n // 32
            blocks = np.frombuffer(self.buf, np.uint8, nb * 34, off).reshape(nb, 34)
            d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
            return (q * d).reshape(shape)
        if ttype == T_Q4_0:
            nb = n // 32
            blocks = np.frombuffer(self.buf, np.uint8, nb * 18, off).reshape(nb, 18)
            d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            qs = blocks[:, 2:]
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
            return (q * d).reshape(shape)
        raise ValueError(f"tensor {name}: type {ttype} is not supported by the reference")


def quantize_q8_0(x):
    """float32 rows -> Q8_0 bytes, as ggml's quantize_row_q8_0_ref."""
    x = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = amax / 127.0
    ids = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = x * ids[:, None]
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)  # roundf: half away from zero
    out = np.zeros((x.shape[0], 34), np.uint8)
    out[:, :2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q.astype(np.int8).view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    """float32 rows -> Q4_0 bytes, as ggml's quantize_row_q4_0_ref."""
    x = np.asarray(x, np.float32).reshape(-1, 32)
    idx = np.abs(x).argmax(axis=1)
    vmax = x[np.arange(x.shape[0]), idx]  # the value of largest magnitude, with its sign
    d = (vmax / np.float32(-8.0)).astype(np.float32)
    ids = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = (x * ids[:, None] + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(v)).astype(np.uint8)
    out = np.zeros((x.shape[0], 18), np.uint8)
    out[:, :2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value, elem=None):
        self.kv.append((key, vtype, value, elem))

    def add_tensor(self, name, array, ttype):
        a = np.asarray(array, np.float32)
        if ttype == T_F32:
            data = a.astype(np.float32).tobytes()
        elif ttype == T_F16:
            data = a.astype(np.float16).tobytes()
        elif ttype == T_Q8_0:
            data = quantize_q8_0(a)
        elif ttype == T_Q4_0:
            data = quantize_q4_0(a)
        else:
            raise ValueError(ttype)
        self.tensors.append((name, list(reversed(a.shape)), ttype, data))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, t, v, elem):
        if t == STR:
            return self._str(v)
        if t == ARR:
            out = struct.pack("<IQ", elem, len(v))
            for x in v:
                out += self._value(elem, x, None)
            return out
        return struct.pack(SCALAR[t], v)

    def write(self, path):
        head = GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, t, v, elem in self.kv:
            head += self._str(key) + struct.pack("<I", t) + self._value(t, v, elem)
        off = 0
        offsets = []
        for name, ne, ttype, data in self.tensors:
            offsets.append(off)
            head += self._str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
            head += struct.pack("<IQ", ttype, off)
            off += (len(data) + 31) // 32 * 32
        head += b"\0" * ((32 - len(head) % 32) % 32)
        with open(path, "wb") as f:
            f.write(head)
            for (name, ne, ttype, data), o in zip(self.tensors, offsets):
                f.write(data)
                f.write(b"\0" * ((32 - len(data) % 32) % 32))
