"""ckptio: save and load checkpoints of numpy state dicts with libckptio.

    import numpy as np, ckptio
    sd = {"model": {"w": np.ones((4, 8), np.float32)}, "step": b"\\x00" * 8}
    ckptio.save(sd, "/data/ck/step-1")                # or s3://..., https://...
    out = {"model": {"w": np.empty((4, 8), np.float32)}, "step": bytearray(8)}
    ckptio.load(out, "/data/ck/step-1")              # into the arrays, no copy
    with ckptio.open("/data/ck/step-1") as ck:
        print([(i.name, i.dtype, i.shape) for i in ck.items])
        w = ck.read("model.w")                       # a new numpy array

Nested dicts are flattened with dotted names, as PyTorch DCP does.  Arrays
and torch tensors (when the application uses torch; ckptio needs only
numpy) are passed to the library by their buffers: a save reads them where
they are, a load writes straight into them (contiguous, writable, the
saved dtype and shape).  ckptio.torch has the torch.distributed
coordinator and the DCP storage backend.  Errors raise ckptio.Error subclasses carrying the
library's status and message.  The binding is ctypes (docs/python.md says
why).  The library is found through $CKPTIO_LIBRARY, else the system's
loader (libckptio.so.0).
"""

import concurrent.futures
import ctypes
import os
import pickle
import sys
import threading

import numpy as np

__all__ = ["Context", "Checkpoint", "Item", "Shard", "Coordinator",
           "MPICoordinator", "save", "async_save", "load", "open", "verify",
           "Error", "InvalidArgument", "OutOfMemory", "IOError_", "NotFound",
           "Exists", "Corrupt", "ConfigError", "PluginError", "Unsupported",
           "AuthError", "NetworkError", "Canceled", "CoordinatorError",
           "NoSpace", "InDoubt", "flatten"]

# ---------------------------------------------------------------------------
# The library


def _load_library():
    path = os.environ.get("CKPTIO_LIBRARY")
    try:
        return ctypes.CDLL(path or "libckptio.so.0")
    except OSError as e:
        raise ImportError(
            "ckptio: cannot load %s (%s); install libckptio or set "
            "CKPTIO_LIBRARY to libckptio.so" % (path or "libckptio.so.0", e))


_lib = _load_library()
_c_status = ctypes.c_int
_vp = ctypes.c_void_p
_u64p = ctypes.POINTER(ctypes.c_uint64)


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_strerror = _fn("ckptio_strerror", ctypes.c_char_p, _c_status)
_last_error = _fn("ckptio_last_error", ctypes.c_char_p)
_version = _fn("ckptio_version", ctypes.c_char_p)
_ctx_new = _fn("ckptio_ctx_new", _c_status, ctypes.POINTER(_vp),
               ctypes.c_char_p)
_ctx_free = _fn("ckptio_ctx_free", None, _vp)
_errmsg = _fn("ckptio_errmsg", ctypes.c_char_p, _vp)
_sd_new = _fn("ckptio_sd_new", _c_status, ctypes.POINTER(_vp))
_sd_free = _fn("ckptio_sd_free", None, _vp)
_sd_add_tensor = _fn("ckptio_sd_add_tensor", _c_status, _vp, ctypes.c_char_p,
                     ctypes.c_int, ctypes.c_uint, _u64p, _u64p, _u64p, _vp)
_sd_add_bytes = _fn("ckptio_sd_add_bytes", _c_status, _vp, ctypes.c_char_p,
                    _vp, ctypes.c_size_t)


class _Opts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("coord", _vp), ("progress", _vp), ("progress_user", _vp),
                ("threads", ctypes.c_uint), ("layout", ctypes.c_char_p)]


class _ItemInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("kind", ctypes.c_int), ("dtype", ctypes.c_int),
                ("ndim", ctypes.c_uint), ("shape", _u64p),
                ("nbytes", ctypes.c_uint64), ("nchunks", ctypes.c_size_t),
                ("object", ctypes.c_char_p)]


_optsp = ctypes.POINTER(_Opts)
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, _vp, ctypes.c_uint64,
                             ctypes.c_uint64)
_save = _fn("ckptio_save", _c_status, _vp, ctypes.c_char_p, _vp, _optsp)
_load = _fn("ckptio_load", _c_status, _vp, ctypes.c_char_p, _vp, _optsp)
_verify = _fn("ckptio_verify", _c_status, _vp, ctypes.c_char_p, _optsp)
_open = _fn("ckptio_open", _c_status, _vp, ctypes.c_char_p,
            ctypes.POINTER(_vp))
_ckpt_close = _fn("ckptio_ckpt_close", None, _vp)
_ckpt_count = _fn("ckptio_ckpt_count", ctypes.c_size_t, _vp)
_ckpt_item = _fn("ckptio_ckpt_item", _c_status, _vp, ctypes.c_size_t,
                 ctypes.POINTER(_ItemInfo))
_ckpt_layout = _fn("ckptio_ckpt_layout", ctypes.c_char_p, _vp)
_async_save = _fn("ckptio_async_save", _c_status, _vp, ctypes.c_char_p, _vp,
                  _optsp, ctypes.POINTER(_vp))
_future_wait = _fn("ckptio_future_wait", _c_status, _vp)
_future_errmsg = _fn("ckptio_future_errmsg", ctypes.c_char_p, _vp)
_future_free = _fn("ckptio_future_free", None, _vp)

_alloc = _fn("ckptio_alloc", _vp, ctypes.c_size_t)

_SAVE_OVERWRITE = 1
_SAVE_STAGE = 2
_LOAD_PARTIAL = 2
_ITEM_BYTES = 2

# ---------------------------------------------------------------------------
# Errors


class Error(Exception):
    """A failed ckptio call: .status (the library's ckptio_status), the
    message of the library (which object, which item, why)."""

    status = None

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status

    def __reduce__(self):
        # Picklable (torch.distributed sends exceptions between ranks).
        return (type(self), (self.status, self.args[0] if self.args
                             else ""))


class InvalidArgument(Error, ValueError): pass      # noqa: E701
class OutOfMemory(Error, MemoryError): pass         # noqa: E701
class IOError_(Error, OSError): pass                # noqa: E701
class NotFound(Error, FileNotFoundError): pass      # noqa: E701
class Exists(Error, FileExistsError): pass          # noqa: E701
class Corrupt(Error): pass                          # noqa: E701
class ConfigError(Error): pass                      # noqa: E701
class PluginError(Error): pass                      # noqa: E701
class Unsupported(Error): pass                      # noqa: E701
class AuthError(Error, PermissionError): pass       # noqa: E701
class NetworkError(Error, ConnectionError): pass    # noqa: E701
class Canceled(Error): pass                         # noqa: E701
class CoordinatorError(Error): pass                 # noqa: E701
class NoSpace(Error, OSError): pass                 # noqa: E701
class InDoubt(Error): pass                          # noqa: E701


_ERRORS = {1: InvalidArgument, 2: OutOfMemory, 3: IOError_, 4: NotFound,
           5: Exists, 6: Corrupt, 7: ConfigError, 8: PluginError,
           9: Unsupported, 10: AuthError, 11: NetworkError, 12: Canceled,
           13: CoordinatorError, 14: NoSpace, 15: InDoubt}


def _raise(status, message):
    what = _strerror(status).decode("utf-8", "replace")
    msg = message.decode("utf-8", "replace") if message else ""
    raise _ERRORS.get(status, Error)(status, "%s: %s" % (what, msg)
                                     if msg else what)


def _check(status, ctx=None):
    if status != 0:
        _raise(status, _errmsg(ctx) if ctx else _last_error())


# ---------------------------------------------------------------------------
# dtypes: ckptio's (the safetensors names) and numpy's

_TO_NUMPY = {1: np.float64, 2: np.float32, 3: np.float16, 5: np.int64,
             6: np.int32, 7: np.int16, 8: np.int8, 9: np.uint8, 10: np.bool_,
             13: np.uint16, 14: np.uint32, 15: np.uint64, 19: np.complex64}
_FROM_NUMPY = {np.dtype(v): k for k, v in _TO_NUMPY.items()}
_NAMES = {1: "F64", 2: "F32", 3: "F16", 4: "BF16", 5: "I64", 6: "I32",
          7: "I16", 8: "I8", 9: "U8", 10: "BOOL", 11: "F8_E4M3",
          12: "F8_E5M2", 13: "U16", 14: "U32", 15: "U64", 16: "F8_E8M0",
          17: "F8_E4M3FNUZ", 18: "F8_E5M2FNUZ", 19: "C64", 20: "F4",
          21: "F6_E2M3", 22: "F6_E3M2"}
_BY_NAME = {v: k for k, v in _NAMES.items()}


def _torch():
    """torch, when the application imported it (ckptio never imports it
    itself: numpy alone is enough)."""
    return sys.modules.get("torch")


_TORCH_NAMES = {"float64": 1, "float32": 2, "float16": 3, "bfloat16": 4,
                "int64": 5, "int32": 6, "int16": 7, "int8": 8, "uint8": 9,
                "bool": 10, "float8_e4m3fn": 11, "float8_e5m2": 12,
                "uint16": 13, "uint32": 14, "uint64": 15,
                "float8_e8m0fnu": 16, "float8_e4m3fnuz": 17,
                "float8_e5m2fnuz": 18, "complex64": 19}
_torch_maps = None


def _torch_dtypes():
    """({torch.dtype: code}, {code: torch.dtype}) for the dtypes this
    torch has (1.13 has no float8 or uint16...)."""
    global _torch_maps
    if _torch_maps is None:
        t = _torch()
        fwd = {getattr(t, n): c for n, c in _TORCH_NAMES.items()
               if isinstance(getattr(t, n, None), t.dtype)}
        _torch_maps = (fwd, {c: d for d, c in fwd.items()})
    return _torch_maps


def _is_tensor(v):
    t = _torch()
    return t is not None and isinstance(v, t.Tensor)


def _dtype_code(a, name):
    code = _FROM_NUMPY.get(a.dtype) if a.dtype.isnative else None
    if code is None:
        raise InvalidArgument(1, "item '%s': numpy dtype %s has no ckptio "
                              "dtype (native-endian %s)" % (
                                  name, a.dtype, ", ".join(
                                      sorted(np.dtype(t).name for t in
                                             _TO_NUMPY.values()))))
    return code


# ---------------------------------------------------------------------------
# Shards and coordinators (several processes)


class Shard:
    """This process's part of a tensor: array holds the box of
    global_shape that starts at offsets.  In a save, every process of a
    job passes its own Shard of the tensor; in a load, a Shard asks for
    that box (any split: the data is assembled from the saved chunks)."""

    __slots__ = ("array", "offsets", "global_shape")

    def __init__(self, array, offsets, global_shape):
        ndim = array.dim() if _is_tensor(array) else array.ndim
        if len(offsets) != ndim or len(global_shape) != ndim:
            raise InvalidArgument(1, "a Shard's offsets and global_shape "
                                  "have one entry per dimension of its "
                                  "array")
        self.array = array
        self.offsets = tuple(int(o) for o in offsets)
        self.global_shape = tuple(int(g) for g in global_shape)


_GATHER = ctypes.CFUNCTYPE(_c_status, _vp, _vp, ctypes.c_size_t,
                           ctypes.POINTER(ctypes.POINTER(_vp)),
                           ctypes.POINTER(ctypes.POINTER(ctypes.c_size_t)))
_BROADCAST = ctypes.CFUNCTYPE(_c_status, _vp, ctypes.POINTER(_vp),
                              ctypes.POINTER(ctypes.c_size_t))
_ERRMSG = ctypes.CFUNCTYPE(_vp, _vp)


class _Coord(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("rank", ctypes.c_int),
                ("world", ctypes.c_int), ("self", _vp),
                ("gather", _GATHER), ("broadcast", _BROADCAST),
                ("barrier", _vp), ("errmsg", _ERRMSG)]


def _copy_out(data):
    """data in memory from ckptio_alloc (ckptio frees it)."""
    p = _alloc(len(data))
    if not p:
        raise MemoryError("ckptio_alloc")
    ctypes.memmove(p, data, len(data))
    return p


class Coordinator:
    """The collectives of a multi-process save or load.  Subclass it with
    rank, world, and two methods every process calls in the same order:
      gather(data: bytes) -> list of world bytes on rank 0, None elsewhere
      broadcast(data: bytes or None) -> bytes (rank 0 passes its data)
    An exception in either fails the operation (CKPTIO_ECOORD) on this
    process, and its text is in ckptio's message; it must not leave the
    others waiting (MPI jobs abort)."""

    rank = 0
    world = 1

    def gather(self, data):
        raise NotImplementedError

    def broadcast(self, data):
        raise NotImplementedError

    def _table(self):
        """The C table over this object's methods (kept by the caller for
        the call's life)."""
        last = {"msg": None}

        def failed(e):
            text = ("%s: %s" % (type(e).__name__, e)).encode(
                "utf-8", "replace")[:400]
            last["msg"] = ctypes.create_string_buffer(text)
            return 13

        def gather(_self, buf, n, out_bufs, out_lens):
            try:
                got = self.gather(ctypes.string_at(buf, n) if n else b"")
                if self.rank != 0:
                    out_bufs[0] = ctypes.POINTER(_vp)()
                    out_lens[0] = ctypes.POINTER(ctypes.c_size_t)()
                    return 0
                if got is None or len(got) != self.world:
                    raise CoordinatorError(13, "gather returned %s, not "
                                           "a list of %d" % (
                                               type(got).__name__,
                                               self.world))
                bufs = ctypes.cast(_alloc(ctypes.sizeof(_vp) * self.world),
                                   ctypes.POINTER(_vp))
                lens = ctypes.cast(
                    _alloc(ctypes.sizeof(ctypes.c_size_t) * self.world),
                    ctypes.POINTER(ctypes.c_size_t))
                if not bufs or not lens:
                    raise MemoryError("ckptio_alloc")
                for r, d in enumerate(got):
                    bufs[r] = _copy_out(bytes(d))
                    lens[r] = len(d)
                out_bufs[0] = bufs
                out_lens[0] = lens
                return 0
            except BaseException as e:  # noqa: B902 - not into C
                return failed(e)

        def broadcast(_self, buf, n):
            try:
                if self.rank == 0:
                    self.broadcast(ctypes.string_at(buf[0], n[0]))
                else:
                    data = bytes(self.broadcast(None))
                    buf[0] = _copy_out(data)
                    n[0] = len(data)
                return 0
            except BaseException as e:  # noqa: B902
                return failed(e)

        def errmsg(_self):
            return ctypes.addressof(last["msg"]) if last["msg"] else None

        t = _Coord(ctypes.sizeof(_Coord), self.rank, self.world, None,
                   _GATHER(gather), _BROADCAST(broadcast), None,
                   _ERRMSG(errmsg))
        t._keep = last  # the message outlives the callback that made it
        return t


class MPICoordinator(Coordinator):
    """A Coordinator over an mpi4py communicator (a private duplicate of
    it: ckptio's messages never meet the application's)."""

    def __init__(self, comm):
        self.comm = comm.Dup()
        self.rank = self.comm.Get_rank()
        self.world = self.comm.Get_size()

    def gather(self, data):
        return self.comm.gather(data, root=0)

    def broadcast(self, data):
        return self.comm.bcast(data, root=0)

    def free(self):
        """Free the duplicate communicator (collective)."""
        if self.comm is not None:
            self.comm.Free()
            self.comm = None


# ---------------------------------------------------------------------------
# State dicts


def flatten(state_dict, prefix=""):
    """{"model": {"w": a}, "optim": {"state": {0: {...}}}} ->
    {"model.w": a, "optim.state.0...": ...}: nested mappings joined with
    dots, as DCP names them; integer keys (an optimizer's state) become
    their decimal text, as in DCP.  Leaves are anything else."""
    return {n: leaf for n, (leaf, _p, _k) in _places(state_dict,
                                                     prefix).items()}


def _places(state_dict, prefix=""):
    """name -> (leaf, parent mapping, key in it), for flatten and for
    putting loaded objects back where they were."""
    out = {}
    for k, v in state_dict.items():
        if isinstance(k, bool) or not isinstance(k, (str, int)):
            raise InvalidArgument(1, "state dict key %r is not a string "
                                  "or an integer" % (k,))
        name = prefix + str(k)
        sub = (_places(v, name + ".").items() if isinstance(v, dict)
               else ((name, (v, state_dict, k)),))
        for n, place in sub:
            if n in out:
                raise InvalidArgument(1, "two items named '%s' (a dotted "
                                      "key and a nested one, or 1 and "
                                      "'1')" % n)
            out[n] = place
    return out


def _is_buffer(v):
    return (isinstance(v, (np.ndarray, Shard, bytes, bytearray, memoryview))
            or _is_tensor(v))


class _SD:
    """A ckptio_sd over the caller's buffers, which it keeps alive."""

    def __init__(self, flat, for_load, sizes=None):
        self.handle = _vp()
        _check(_sd_new(ctypes.byref(self.handle)))
        self.keep = []
        self.objects = []  # load: (name, bytearray) of pickled objects
        try:
            for name, v in flat.items():
                if not _is_buffer(v):
                    v = self._object(name, v, for_load, sizes)
                    if v is None:
                        continue
                self._add(name, v, for_load)
        except BaseException:
            self.close()
            raise

    def _add(self, name, v, for_load):
        try:
            bname = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(1, "item %r: the name is not valid UTF-8"
                                  % (name,)) from None
        box = None
        if isinstance(v, Shard):
            box, v = v, v.array
        if _is_tensor(v):
            self._add_tensor(name, bname, v, box, for_load)
            return
        if isinstance(v, np.ndarray):
            if not v.flags.c_contiguous:
                raise InvalidArgument(1, "item '%s': the array is not "
                                      "C-contiguous (np.ascontiguousarray "
                                      "makes a copy that is)" % name)
            if for_load and not v.flags.writeable:
                raise InvalidArgument(1, "item '%s': the array is read-only"
                                      % name)
            code = _dtype_code(v, name)
            shape = (ctypes.c_uint64 * max(v.ndim, 1))(*v.shape)
            ptr = v.ctypes.data if v.nbytes else None
            gs = off = None
            if box is not None:
                gs = (ctypes.c_uint64 * max(v.ndim, 1))(*box.global_shape)
                off = (ctypes.c_uint64 * max(v.ndim, 1))(*box.offsets)
            self.keep.append((v, shape, gs, off))
            if box is None:
                _check(_sd_add_tensor(self.handle, bname, code, v.ndim,
                                      shape if v.ndim else None, None, None,
                                      ptr))
            else:
                _check(_sd_add_tensor(self.handle, bname, code, v.ndim,
                                      gs if v.ndim else None,
                                      off if v.ndim else None,
                                      shape if v.ndim else None, ptr))
            return
        if isinstance(v, (bytes, bytearray, memoryview)):
            if isinstance(v, memoryview) and v.readonly:
                if for_load:
                    raise InvalidArgument(1, "item '%s': the memoryview is "
                                          "read-only" % name)
                v = bytes(v)
            if for_load and isinstance(v, bytes):
                raise InvalidArgument(1, "item '%s': bytes are immutable; "
                                      "load into a bytearray" % name)
            n = len(v) if not isinstance(v, memoryview) else v.nbytes
            if isinstance(v, bytes):
                buf = ctypes.c_char_p(v)      # the bytes' own buffer
            else:
                buf = (ctypes.c_char * n).from_buffer(v)
            self.keep.append((v, buf))
            _check(_sd_add_bytes(self.handle, bname,
                                 ctypes.cast(buf, _vp) if n else None, n))
            return
        raise InvalidArgument(1, "item '%s': a %s is neither a numpy array, "
                              "a torch tensor, a Shard nor bytes" % (
                                  name, type(v).__name__))

    def _object(self, name, v, for_load, sizes):
        """Any other leaf (an int, a list, a dict of an optimizer's
        param_groups...): pickled into a bytes item on save; on load the
        buffer its saved size needs (None: not in the checkpoint)."""
        if not for_load:
            try:
                return pickle.dumps(v, protocol=4)
            except Exception as e:
                raise InvalidArgument(1, "item '%s': a %s cannot be "
                                      "pickled (%s)" % (
                                          name, type(v).__name__, e)) from e
        n = (sizes or {}).get(name)
        if n is None:
            return None
        buf = bytearray(n)
        self.objects.append((name, buf))
        return buf

    def _add_tensor(self, name, bname, v, box, for_load):
        """A torch tensor, by its data_ptr(): no copy either way."""
        if v.device.type != "cpu":
            raise InvalidArgument(1, "item '%s': the tensor is on %s; "
                                  "ckptio reads and writes CPU memory "
                                  "(.cpu() makes a copy there)" % (
                                      name, v.device))
        if v.is_sparse or v.layout != _torch().strided:
            raise InvalidArgument(1, "item '%s': a %s tensor; ckptio saves "
                                  "dense (strided) tensors" % (name,
                                                               v.layout))
        if not v.is_contiguous():
            raise InvalidArgument(1, "item '%s': the tensor is not "
                                  "contiguous (.contiguous() makes a copy "
                                  "that is)" % name)
        code = _torch_dtypes()[0].get(v.dtype)
        if code is None:
            raise InvalidArgument(1, "item '%s': torch dtype %s has no "
                                  "ckptio dtype" % (name, v.dtype))
        ndim = v.dim()
        dims = tuple(v.shape)
        shape = (ctypes.c_uint64 * max(ndim, 1))(*dims)
        ptr = v.data_ptr() if v.numel() else None
        gs = off = None
        if box is not None:
            gs = (ctypes.c_uint64 * max(ndim, 1))(*box.global_shape)
            off = (ctypes.c_uint64 * max(ndim, 1))(*box.offsets)
        self.keep.append((v, shape, gs, off))
        if box is None:
            _check(_sd_add_tensor(self.handle, bname, code, ndim,
                                  shape if ndim else None, None, None, ptr))
        else:
            _check(_sd_add_tensor(self.handle, bname, code, ndim,
                                  gs if ndim else None, off if ndim else None,
                                  shape if ndim else None, ptr))

    def close(self):
        if self.handle:
            _sd_free(self.handle)
            self.handle = _vp()
        self.keep = []
        self.objects = []


# ---------------------------------------------------------------------------
# Context and operations


class Context:
    """A ckptio context: configuration (config_path, else $CKPTIO_CONFIG,
    ~/.config/ckptio/ckptio.conf, the system's) and loaded plugins.  Use it
    as a context manager, or close() it; the module functions make one per
    call."""

    def __init__(self, config_path=None):
        self._h = _vp()
        _check(_ctx_new(ctypes.byref(self._h),
                        config_path.encode() if config_path else None))

    def close(self):
        """Free the context (its checkpoints must be closed first)."""
        if getattr(self, "_h", None):
            _ctx_free(self._h)
            self._h = _vp()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _opts(self, flags=0, threads=0, layout=None, progress=None,
              coordinator=None):
        """The options struct, and what must live as long as the call."""
        o = _Opts(ctypes.sizeof(_Opts), flags, None, None, None, threads,
                  layout.encode() if layout else None)
        box = {"error": None, "cb": None, "coord": None}
        if coordinator is not None:
            box["coord"] = coordinator._table()
            o.coord = ctypes.cast(ctypes.byref(box["coord"]), _vp)
        if progress is not None:
            def call(user, done, total):
                try:
                    return 1 if progress(done, total) else 0
                except BaseException as e:  # raised again after the call
                    box["error"] = e
                    return 1
            box["cb"] = _PROGRESS(call)
            o.progress = ctypes.cast(box["cb"], _vp)
        return o, box

    def save(self, state_dict, location, *, overwrite=False, layout=None,
             threads=0, progress=None, coordinator=None):
        """Save state_dict (nested dicts of numpy arrays, torch tensors,
        Shards, bytes; other leaves are pickled) to location, atomically: a failed save leaves no checkpoint and never
        damages an existing one.  overwrite replaces one.  progress:
        progress(done, total) in bytes, from ckptio's threads; a true
        result cancels (ckptio.Canceled), an exception it raises cancels
        and is raised here.  coordinator: a Coordinator, when every
        process of a job saves its part (Shards) to the same location;
        rank 0 commits, and a failure on any fails all."""
        try:
            sd = _SD(flatten(state_dict), for_load=False)
        except Error:
            if coordinator is not None:
                self._fail_collective(location, coordinator)
            raise
        try:
            o, box = self._opts(_SAVE_OVERWRITE if overwrite else 0,
                                threads, layout, progress, coordinator)
            st = _save(self._h, location.encode(), sd.handle,
                       ctypes.byref(o))
            if box["error"] is not None:
                raise box["error"]
            _check(st, self._h)
        finally:
            sd.close()

    def _fail_collective(self, location, coordinator):
        """This rank cannot save: still take part in the collective save,
        so that the others fail too (naming this rank) instead of waiting
        for it.  A save of no state dict fails on this rank after the
        first gather."""
        o, _keep = self._opts(0, 0, None, None, coordinator)
        _save(self._h, location.encode(), None, ctypes.byref(o))

    def async_save(self, state_dict, location, *, overwrite=False,
                   layout=None, stage=False, threads=0):
        """Start a save and return a concurrent.futures.Future (result None,
        or the save's exception).  The arrays must stay unchanged until it
        is done, unless stage=True (ckptio copies them first, costing
        their size in memory); this context must stay open until then."""
        sd = _SD(flatten(state_dict), for_load=False)
        fut = _vp()
        flags = (_SAVE_OVERWRITE if overwrite else 0) | \
            (_SAVE_STAGE if stage else 0)
        o, _ = self._opts(flags, threads, layout)
        st = _async_save(self._h, location.encode(), sd.handle,
                         ctypes.byref(o), ctypes.byref(fut))
        if st != 0:
            sd.close()
            _check(st, self._h)
        if stage:  # copied: the caller's buffers are free again
            sd.close()
        result = concurrent.futures.Future()
        result.set_running_or_notify_cancel()

        def wait():
            st = _future_wait(fut)  # ctypes lets the GIL go
            msg = _future_errmsg(fut) if st != 0 else None
            _future_free(fut)
            sd.close()
            # Last: done callbacks may close the context.
            if st != 0:
                try:
                    _raise(st, msg)
                except Error as e:
                    result.set_exception(e)
            else:
                result.set_result(None)

        threading.Thread(target=wait, name="ckptio-async-save",
                         daemon=True).start()
        return result

    def load(self, state_dict, location, *, partial=False, threads=0,
             coordinator=None):
        """Load location into the arrays, tensors and bytearrays of
        state_dict (same nested names, dtypes and shapes as saved), every
        chunk's CRC32C checked; any other leaf (None, say) is replaced by
        the object saved there, unpickled (only from checkpoints you
        trust).  partial: items the checkpoint lacks are left alone.
        Shards load boxes of tensors.  coordinator: every process loads
        together, and rank 0 alone reads the metadata."""
        places = _places(state_dict)
        flat = {n: leaf for n, (leaf, _p, _k) in places.items()}
        sizes = None
        objs = [n for n, v in flat.items() if not _is_buffer(v)]
        if objs:  # their saved sizes: one more read of the metadata
            with Checkpoint(self, location) as ck:
                sizes = {i.name: i.nbytes for i in ck.items
                         if i.kind == "bytes"}
            missing = [n for n in objs if n not in sizes]
            if missing and not partial:
                raise NotFound(4, "%s: no bytes item '%s' for the object "
                               "there" % (location, missing[0]))
        sd = _SD(flat, for_load=True, sizes=sizes)
        try:
            o, _keep = self._opts(_LOAD_PARTIAL if partial else 0, threads,
                                  coordinator=coordinator)
            _check(_load(self._h, location.encode(), sd.handle,
                         ctypes.byref(o)), self._h)
            for name, buf in sd.objects:
                try:
                    obj = pickle.loads(buf)
                except Exception as e:
                    raise Corrupt(6, "%s: item '%s' is not a pickled Python "
                                  "object (%s: %s)" % (
                                      location, name, type(e).__name__,
                                      e)) from None
                _leaf, parent, key = places[name]
                parent[key] = obj
        finally:
            sd.close()

    def verify(self, location):
        """Read every chunk and check its CRC32C; raise on a mismatch."""
        _check(_verify(self._h, location.encode(), None), self._h)

    def open(self, location):
        """The checkpoint at location: its items, and reads of them (close
        it before this context)."""
        return Checkpoint(self, location)


class Item:
    """One item of a checkpoint: name, kind ("tensor" or "bytes"), dtype
    (ckptio's name, "F32"...), shape (a tuple), nbytes."""

    __slots__ = ("name", "kind", "dtype", "shape", "nbytes")

    def __init__(self, name, kind, dtype, shape, nbytes):
        self.name, self.kind, self.dtype = name, kind, dtype
        self.shape, self.nbytes = shape, nbytes

    def __repr__(self):
        return "Item(%r, %s, %s, %s, %d bytes)" % (
            self.name, self.kind, self.dtype, self.shape, self.nbytes)


class Checkpoint:
    """An open checkpoint (ckptio.open): .items, .layout, read(name)."""

    def __init__(self, ctx, location, own_ctx=False):
        self._ctx, self._loc, self._own = ctx, location, own_ctx
        self._h = _vp()
        _check(_open(ctx._h, location.encode(), ctypes.byref(self._h)),
               ctx._h)
        self.layout = _ckpt_layout(self._h).decode()
        self.items = []
        for i in range(_ckpt_count(self._h)):
            info = _ItemInfo()
            info.struct_size = ctypes.sizeof(_ItemInfo)
            _check(_ckpt_item(self._h, i, ctypes.byref(info)))
            if info.kind == _ITEM_BYTES:
                self.items.append(Item(info.name.decode(), "bytes", None,
                                       None, info.nbytes))
            else:
                self.items.append(Item(
                    info.name.decode(), "tensor",
                    _NAMES.get(info.dtype, str(info.dtype)),
                    tuple(info.shape[d] for d in range(info.ndim)),
                    info.nbytes))
        self._by_name = {it.name: it for it in self.items}

    def read(self, name, *, as_torch=False):
        """Item name as a new numpy array, or with as_torch a new torch
        tensor (import torch first); bytes items come as bytes."""
        it = self._by_name.get(name)
        if it is None:
            raise NotFound(4, "%s: no item '%s'" % (self._loc, name))
        if it.kind == "bytes":
            buf = bytearray(it.nbytes)
            self._ctx.load({name: buf}, self._loc, partial=True)
            return bytes(buf)
        code = _BY_NAME.get(it.dtype)
        if as_torch:
            t = _torch()
            if t is None:
                raise Unsupported(9, "read(as_torch=True): import torch "
                                  "first")
            dt = _torch_dtypes()[1].get(code)
            if dt is None:
                raise Unsupported(9, "item '%s': dtype %s has no torch "
                                  "dtype in torch %s" % (name, it.dtype,
                                                         t.__version__))
            a = t.empty(it.shape, dtype=dt)
            self._ctx.load({name: a}, self._loc, partial=True)
            return a
        if code in _TO_NUMPY:
            a = np.empty(it.shape, dtype=_TO_NUMPY[code])
            self._ctx.load({name: a}, self._loc, partial=True)
            return a
        raise Unsupported(9, "item '%s': dtype %s has no numpy dtype; read "
                          "it with ckptio cp or as another layout" % (
                              name, it.dtype))

    def close(self):
        """Close the checkpoint (and the context ckptio.open made)."""
        if getattr(self, "_h", None):
            _ckpt_close(self._h)
            self._h = _vp()
        if getattr(self, "_own", False):
            self._own = False
            self._ctx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def save(state_dict, location, *, overwrite=False, layout=None, config=None,
         progress=None, coordinator=None):
    """Save with a context of its own (see Context.save)."""
    with Context(config) as c:
        c.save(state_dict, location, overwrite=overwrite, layout=layout,
               progress=progress, coordinator=coordinator)


def async_save(state_dict, location, *, overwrite=False, layout=None,
               stage=False, config=None):
    """Context.async_save with a context of its own, freed when the save
    is done."""
    c = Context(config)
    try:
        f = c.async_save(state_dict, location, overwrite=overwrite,
                         layout=layout, stage=stage)
    except BaseException:
        c.close()
        raise
    f.add_done_callback(lambda _: c.close())
    return f


def load(state_dict, location, *, partial=False, config=None,
         coordinator=None):
    """Load with a context of its own (see Context.load)."""
    with Context(config) as c:
        c.load(state_dict, location, partial=partial, coordinator=coordinator)


def verify(location, *, config=None):
    with Context(config) as c:
        c.verify(location)


def open(location, *, config=None):  # noqa: A001 (ckptio.open, as asked)
    """The checkpoint at location (a context of its own, closed with it)."""
    c = Context(config)
    try:
        return Checkpoint(c, location, own_ctx=True)
    except BaseException:
        c.close()
        raise


__version__ = _version().decode()
