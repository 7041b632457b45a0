"""ckptio for PyTorch: torch.distributed coordinators and a storage backend
for torch.distributed.checkpoint (DCP).

    import torch.distributed.checkpoint as dcp      # PyTorch 2.x
    import ckptio.torch
    dcp.save(state_dict,
             storage_writer=ckptio.torch.StorageWriter("s3://bkt/run/step-100"))
    dcp.load(state_dict,
             storage_reader=ckptio.torch.StorageReader("s3://bkt/run/step-100"))

On PyTorch 1.13 (Debian 12's python3-torch) DCP lives at
torch.distributed._shard.checkpoint, with save_state_dict/load_state_dict;
import ckptio.torch before it (or use ckptio.torch.dcp, the DCP module this
torch has): on Python 3.11 that module does not import without the shim
below.

The writer runs ckptio's own collective save in write_data, which every
rank calls: every rank writes its items, rank 0 of the process group
commits, atomically, with CRC32C on every byte; a failure on any rank
fails every rank and leaves no checkpoint.  DCP's finish() has nothing left
to do.  The reader rebuilds DCP's Metadata from ckptio's own (names,
dtypes, shapes); rank 0 alone reads it and broadcasts it.  See
docs/python.md.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import io
import sys
import warnings

import torch
import torch.distributed as dist

import ckptio

__all__ = ["ProcessGroupCoordinator", "StorageWriter", "StorageReader",
           "dcp", "install_import_shim"]

# ---------------------------------------------------------------------------
# The import shim for torch 1.13 on Python 3.11
#
# torch/distributed/_shard/sharded_tensor/metadata.py (1.13) declares a
# dataclass field with a mutable default, `field(default=TensorProperties())`,
# which Python 3.11's dataclasses refuse (ValueError at import), so
# torch.distributed._shard.checkpoint cannot be imported.  The shim loads
# that one module from its source with the field given a default_factory
# instead -- the fix PyTorch made upstream.  It changes nothing on disk and
# does nothing where the text is not there (another torch, another Python).

_SHIM_MODULE = "torch.distributed._shard.sharded_tensor.metadata"
_SHIM_FROM = b"field(default=TensorProperties())"
_SHIM_TO = b"field(default_factory=TensorProperties)"


class _ShimLoader(importlib.abc.Loader):
    def __init__(self, origin, source):
        self.origin, self.source = origin, source

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.source.replace(_SHIM_FROM, _SHIM_TO), self.origin,
                       "exec")
        exec(code, module.__dict__)  # noqa: S102 - torch's own source


class _ShimFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _SHIM_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, "rb") as f:
            source = f.read()
        if _SHIM_FROM not in source:
            return None
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=_ShimLoader(spec.origin, source))


def install_import_shim():
    """Let torch 1.13's DCP import on Python >= 3.11 (done on import of
    ckptio.torch; idempotent)."""
    if sys.version_info >= (3, 11) and not any(
            isinstance(f, _ShimFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ShimFinder())


install_import_shim()

try:  # PyTorch >= 2.0
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import (
        BytesStorageMetadata, ChunkStorageMetadata, Metadata,
        TensorStorageMetadata)
    from torch.distributed.checkpoint.planner import (LoadItemType,
                                                      WriteItemType)
    from torch.distributed.checkpoint.storage import (
        StorageReader as _Reader, StorageWriter as _Writer, WriteResult)
except ImportError:  # PyTorch 1.13
    import torch.distributed._shard.checkpoint as dcp
    from torch.distributed._shard.checkpoint.metadata import (
        BytesStorageMetadata, ChunkStorageMetadata, Metadata,
        TensorStorageMetadata)
    from torch.distributed._shard.checkpoint.planner import (LoadItemType,
                                                             WriteItemType)
    from torch.distributed._shard.checkpoint.storage import (
        StorageReader as _Reader, StorageWriter as _Writer, WriteResult)
try:
    from torch.distributed.checkpoint.metadata import TensorProperties
except ImportError:
    from torch.distributed._shard.sharded_tensor.metadata import \
        TensorProperties

# ---------------------------------------------------------------------------
# Coordinator


class ProcessGroupCoordinator(ckptio.Coordinator):
    """A ckptio Coordinator over a torch.distributed process group (None:
    the default group): gather_object to the group's rank 0 and
    broadcast_object_list from it.  Works on gloo (CPU); with NCCL, objects
    travel through the current CUDA device, as torch documents."""

    def __init__(self, group=None):
        if not dist.is_available() or not dist.is_initialized():
            raise ckptio.InvalidArgument(
                1, "ProcessGroupCoordinator: torch.distributed is not "
                "initialised (init_process_group first)")
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        self._root = (0 if group is None or group is dist.group.WORLD
                      else dist.get_global_rank(group, 0))

    def gather(self, data):
        out = [None] * self.world if self.rank == 0 else None
        dist.gather_object(data, out, dst=self._root, group=self.group)
        return out

    def broadcast(self, data):
        box = [data]
        dist.broadcast_object_list(box, src=self._root, group=self.group)
        return box[0]


def _coordinator(process_group, no_dist):
    """The coordinator for a DCP call: None when DCP runs without
    torch.distributed (or one process)."""
    if no_dist or not dist.is_available() or not dist.is_initialized():
        return None
    c = ProcessGroupCoordinator(process_group)
    return c if c.world > 1 else None


def _done(value):
    f = torch.futures.Future()
    f.set_result(value)
    return f


class _Located:
    """What the writer and the reader share: where, with which group and
    configuration, and DCP's checkpoint_id methods (2.x)."""

    def _setup(self, location, process_group, no_dist, config, threads):
        self.location = str(location) if location is not None else None
        self.process_group = process_group
        self.no_dist = no_dist
        self.config = config
        self.threads = threads
        self.is_coordinator = False

    def reset(self, checkpoint_id=None):
        if checkpoint_id is not None:
            self.location = str(checkpoint_id)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id):
        return isinstance(checkpoint_id, str) and bool(checkpoint_id)

    def prepare_local_plan(self, plan):
        return plan

    def prepare_global_plan(self, plans):
        return plans

    def _where(self, what):
        """The location, or a clear error when DCP gave none."""
        if not self.location:
            raise ckptio.InvalidArgument(
                1, "%s: no location (pass one, or checkpoint_id to DCP's "
                "save/load)" % what)
        return self.location


# ---------------------------------------------------------------------------
# StorageWriter


class StorageWriter(_Located, _Writer):
    """DCP storage writer that saves through ckptio to location (a path,
    file://, s3://, http(s)://, or a backend:name from the configuration).

    overwrite: replace a checkpoint already there (else saving onto one
    fails with ckptio.Exists).  process_group: the group DCP saves with
    (None: the default group), which ckptio's collective save uses too;
    no_dist: every process saves alone (as DCP's no_dist).  config: a
    ckptio configuration file.  layout: "native" (default) or
    "safetensors".  threads: ckptio's I/O threads (0: its default)."""

    def __init__(self, location=None, *, overwrite=False, process_group=None,
                 no_dist=False, config=None, layout=None, threads=0):
        super().__init__()
        self._setup(location, process_group, no_dist, config, threads)
        self.overwrite = overwrite
        self.layout = layout

    # PyTorch 1.13 and 2.x names of the same steps.
    def init(self, is_coordinator):
        self.is_coordinator = is_coordinator

    def set_up_storage_writer(self, is_coordinator, *args, **kwargs):
        self.init(is_coordinator)

    def storage_meta(self):
        return None

    def _items(self, plan, planner):
        """ckptio's state dict for this rank's write items, and DCP's
        WriteResults.  Tensors are passed by their memory; a tensor that
        is not on the CPU or not contiguous is copied first, as DCP's own
        FileSystemWriter does."""
        sd, results = {}, []
        for item in plan.items:
            data = planner.resolve_data(item)
            name = item.index.fqn
            if name in sd:
                raise ckptio.Unsupported(
                    9, "item '%s': this rank holds two shards of it; "
                    "ckptio saves one chunk of a tensor per rank" % name)
            if item.type == WriteItemType.BYTE_IO:
                buf = data.getbuffer() if isinstance(data, io.BytesIO) \
                    else memoryview(bytes(data))
                sd[name] = buf
                n = buf.nbytes
            else:
                t = data.detach()
                if t.device.type != "cpu":
                    t = t.cpu()
                if not t.is_contiguous():
                    t = t.contiguous()
                td = item.tensor_data
                size = tuple(td.size)
                offsets = tuple(td.chunk.offsets)
                if tuple(t.shape) == size and not any(offsets):
                    sd[name] = t
                else:
                    sd[name] = ckptio.Shard(t, offsets, size)
                n = t.numel() * t.element_size()
            results.append(WriteResult(index=item.index, size_in_bytes=n,
                                       storage_data=None))
        return sd, results

    def write_data(self, plan, planner):
        self._where("StorageWriter")
        coord = _coordinator(self.process_group, self.no_dist)
        with ckptio.Context(self.config) as ctx:
            try:
                sd, results = self._items(plan, planner)
            except BaseException:
                if coord is not None:
                    ctx._fail_collective(self.location, coord)
                raise
            ctx.save(sd, self.location, overwrite=self.overwrite,
                     layout=self.layout, threads=self.threads,
                     coordinator=coord)
        return _done(results)

    def finish(self, metadata, results):
        """Nothing left: ckptio committed the checkpoint, on rank 0 of the
        group, at the end of write_data (DCP's metadata is rebuilt from
        ckptio's on load)."""
        return None


# ---------------------------------------------------------------------------
# StorageReader


def _torch_dtype(code):
    return ckptio._torch_dtypes()[1].get(code)


def _metadata(location, config):
    """DCP's Metadata for the checkpoint at location: one chunk per tensor
    (ckptio assembles any box from the saved chunks), bytes items with
    their sizes in storage_data."""
    md, sizes = {}, {}
    with ckptio.open(location, config=config) as ck:
        for it in ck.items:
            if it.kind == "bytes":
                md[it.name] = BytesStorageMetadata()
                sizes[it.name] = it.nbytes
                continue
            dt = _torch_dtype(ckptio._BY_NAME.get(it.dtype))
            if dt is None:
                warnings.warn("ckptio: %s: item '%s' has dtype %s, which "
                              "torch %s has not; DCP will not see it" % (
                                  location, it.name, it.dtype,
                                  torch.__version__))
                continue
            size = torch.Size(it.shape)
            md[it.name] = TensorStorageMetadata(
                properties=TensorProperties(dtype=dt), size=size,
                chunks=[ChunkStorageMetadata(
                    offsets=torch.Size([0] * len(size)), sizes=size)])
    return Metadata(state_dict_metadata=md, storage_data={"bytes": sizes})


class StorageReader(_Located, _Reader):
    """DCP storage reader that loads through ckptio from location.
    Every rank reads only the chunks its tensors overlap (any split), every
    chunk CRC32C-checked.  With a process group (the default one when
    torch.distributed is initialised) read_metadata and the loads are
    collective: rank 0 alone reads ckptio's metadata.  no_dist: each
    process alone."""

    def __init__(self, location=None, *, process_group=None, no_dist=False,
                 config=None, threads=0):
        super().__init__()
        self._setup(location, process_group, no_dist, config, threads)
        self.metadata = None

    def read_metadata(self):
        self._where("StorageReader")
        coord = _coordinator(self.process_group, self.no_dist)
        if coord is None:
            return _metadata(self.location, self.config)
        box = [None]
        if coord.rank == 0:
            try:
                box[0] = _metadata(self.location, self.config)
            except ckptio.Error as e:  # every rank raises it, not hangs
                box[0] = (e.status, str(e))
            except BaseException as e:  # noqa: B902
                box[0] = (13, "rank 0: %s: %s" % (type(e).__name__, e))
        dist.broadcast_object_list(box, src=coord._root,
                                   group=coord.group)
        if isinstance(box[0], tuple):
            st, msg = box[0]
            raise ckptio._ERRORS.get(st, ckptio.Error)(st, msg)
        return box[0]

    def init(self, metadata, is_coordinator):
        self.metadata = metadata
        self.is_coordinator = is_coordinator

    def set_up_storage_reader(self, metadata, is_coordinator, *args,
                              **kwargs):
        self.init(metadata, is_coordinator)

    def read_data(self, plan, planner):
        coord = _coordinator(self.process_group, self.no_dist)
        err = None
        try:
            rounds = self._rounds(plan, planner)
        except BaseException as e:  # noqa: B902 - told to the others first
            rounds, err = [], e
        n = len(rounds)
        if coord is not None:  # every rank runs as many collective loads
            t = torch.tensor([n, err is not None], dtype=torch.int64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX,
                            group=self.process_group)
            n = int(t[0].item())
            if err is None and t[1].item():
                raise ckptio.CoordinatorError(
                    13, "%s: another rank failed to plan its reads" %
                    self.location)
        if err is not None:
            raise err
        with ckptio.Context(self.config) as ctx:
            for r in range(n):
                sd, after = rounds[r] if r < len(rounds) else ({}, [])
                ctx.load(sd, self.location, threads=self.threads,
                         coordinator=coord)
                for ri, target, dst in after:
                    if dst is None:
                        planner.load_bytes(ri, io.BytesIO(target))
                        continue
                    if dst is not target:
                        target.copy_(dst)
                    planner.commit_tensor(ri, target)
        return _done(None)

    def _rounds(self, plan, planner):
        """The plan's reads as rounds of ckptio state dicts (a name at most
        once in each), with what to do after each read."""
        md = self.metadata
        sizes = (md.storage_data or {}).get("bytes", {})
        rounds = []  # one state dict per round: names are unique in each
        count = {}
        for ri in plan.items:
            fqn = ri.storage_index.fqn
            k = count.get(fqn, 0)
            count[fqn] = k + 1
            if k == len(rounds):
                rounds.append(({}, []))
            sd, after = rounds[k]
            if ri.type == LoadItemType.BYTE_IO:
                buf = bytearray(sizes[fqn])
                sd[fqn] = buf
                after.append((ri, buf, None))
                continue
            tmd = md.state_dict_metadata[fqn]
            target = planner.resolve_tensor(ri).detach()
            base = ri.storage_index.offset or [0] * len(ri.storage_offsets)
            offsets = [int(a) + int(b) for a, b in
                       zip(base, ri.storage_offsets)]
            if (target.device.type == "cpu" and target.is_contiguous() and
                    target.dtype == tmd.properties.dtype):
                dst = target
            else:  # read in the saved dtype on the CPU, then copy over
                dst = torch.empty(tuple(ri.lengths),
                                  dtype=tmd.properties.dtype)
            sd[fqn] = ckptio.Shard(dst, offsets, tuple(tmd.size))
            after.append((ri, target, dst))
        return rounds
