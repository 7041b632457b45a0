"""The ckptio package with torch tensors and the DCP backend, in one process
(run by tests/python/test_torch.sh; the multi-process cases are in
dcp_test.py): torch tensors saved and loaded in place by their memory in
every dtype this torch has, BF16 included; reads as new tensors; the
refusals (not contiguous, not CPU, sparse); DCP save_state_dict /
load_state_dict through ckptio.torch.StorageWriter/StorageReader with
no_dist, objects included, resharded loads into narrower tensors and
another dtype, overwrite refused and allowed; and the import shim leaving
torch's files as they were."""

import hashlib
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

import ckptio
import ckptio.torch as ct

dcp = ct.dcp


def torch_sample():
    g = torch.Generator().manual_seed(3)
    sd = {"f32": torch.randn(16, 9, generator=g),
          "f64": torch.randn(5, generator=g, dtype=torch.float64),
          "f16": torch.randn(4, 4, generator=g).half(),
          "bf16": torch.randn(33, generator=g).to(torch.bfloat16),
          "i64": torch.randint(-2**40, 2**40, (6,), generator=g),
          "i32": torch.randint(-9, 9, (2, 3), generator=g, dtype=torch.int32),
          "i16": torch.randint(-9, 9, (3,), generator=g, dtype=torch.int16),
          "i8": torch.randint(-9, 9, (3,), generator=g, dtype=torch.int8),
          "u8": torch.randint(0, 255, (7,), generator=g, dtype=torch.uint8),
          "bool": torch.rand(5, generator=g) > 0.5,
          "c64": torch.randn(3, generator=g, dtype=torch.complex64),
          "scalar": torch.tensor(3.25),
          "empty": torch.zeros(0, 3)}
    return {"model": sd, "step": b"\x07\x00"}


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ckptio-torch-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def loc(self, name):
        return os.path.join(self.dir, name)


class Tensors(Base):
    def test_round_trip_in_place(self):
        sd = torch_sample()
        ckptio.save(sd, self.loc("c"))
        out = {"model": {k: torch.empty_like(v)
                         for k, v in sd["model"].items()},
               "step": bytearray(2)}
        ptrs = {k: v.data_ptr() for k, v in out["model"].items()}
        ckptio.load(out, self.loc("c"))
        for k, v in sd["model"].items():
            got = out["model"][k]
            self.assertEqual(got.dtype, v.dtype, k)
            self.assertTrue(torch.equal(got, v), k)
            self.assertEqual(got.data_ptr(), ptrs[k], k)  # no copy
        self.assertEqual(bytes(out["step"]), b"\x07\x00")

    def test_read_as_torch_and_numpy(self):
        sd = torch_sample()
        ckptio.save(sd, self.loc("c"))
        with ckptio.open(self.loc("c")) as ck:
            dt = {i.name: i.dtype for i in ck.items}
            self.assertEqual(dt["model.bf16"], "BF16")
            t = ck.read("model.bf16", as_torch=True)
            self.assertTrue(torch.equal(t, sd["model"]["bf16"]))
            a = ck.read("model.f32")
            self.assertTrue(np.array_equal(a, sd["model"]["f32"].numpy()))

    def test_numpy_and_torch_interchange(self):
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        ckptio.save({"x": a}, self.loc("c"))
        t = torch.zeros(3, 4)
        ckptio.load({"x": t}, self.loc("c"))
        self.assertTrue(torch.equal(t, torch.from_numpy(a)))

    def test_parameter_with_grad_loads_in_place(self):
        lin = torch.nn.Linear(4, 3)
        ckptio.save(lin.state_dict(), self.loc("c"))
        other = torch.nn.Linear(4, 3)
        ckptio.load({"weight": other.weight, "bias": other.bias},
                    self.loc("c"))
        self.assertTrue(torch.equal(other.weight, lin.weight))
        self.assertTrue(other.weight.requires_grad)

    def test_model_and_optimizer(self):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(),
                                    torch.nn.Linear(4, 2))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        model(torch.randn(3, 6)).sum().backward()
        opt.step()
        ckptio.save({"model": model.state_dict(),
                     "optim": opt.state_dict(), "epoch": 4},
                    self.loc("c"))
        with ckptio.open(self.loc("c")) as ck:
            names = {i.name for i in ck.items}
        self.assertIn("optim.state.0.exp_avg", names)  # int keys: text
        self.assertIn("optim.param_groups", names)     # a list: pickled
        # A fresh model and optimizer with the same structure (one step
        # taken, so the optimizer has its state tensors) load in place.
        model2 = torch.nn.Sequential(torch.nn.Linear(6, 4),
                                     torch.nn.ReLU(), torch.nn.Linear(4, 2))
        opt2 = torch.optim.Adam(model2.parameters(), lr=0.5)
        model2(torch.randn(3, 6)).sum().backward()
        opt2.step()
        target = {"model": model2.state_dict(), "optim": opt2.state_dict(),
                  "epoch": None}
        ckptio.load(target, self.loc("c"))
        model2.load_state_dict(target["model"])
        opt2.load_state_dict(target["optim"])
        for a, b in zip(model.parameters(), model2.parameters()):
            self.assertTrue(torch.equal(a, b))
        self.assertEqual(target["epoch"], 4)
        self.assertEqual(opt2.param_groups[0]["lr"], 0.01)
        self.assertTrue(torch.equal(opt2.state_dict()["state"][0]["exp_avg"],
                                    opt.state_dict()["state"][0]["exp_avg"]))

    def test_object_refusals(self):
        ckptio.save({"raw": b"not a pickle", "n": 3}, self.loc("c"))
        with self.assertRaisesRegex(ckptio.Corrupt, "not a pickled"):
            ckptio.load({"raw": None}, self.loc("c"))
        with self.assertRaises(ckptio.NotFound):
            ckptio.load({"other": None}, self.loc("c"))
        out = {"other": "kept", "n": 0}
        ckptio.load(out, self.loc("c"), partial=True)
        self.assertEqual(out, {"other": "kept", "n": 3})
        with self.assertRaisesRegex(ckptio.InvalidArgument, "or an integer"):
            ckptio.save({(1, 2): 3}, self.loc("d"))
        with self.assertRaisesRegex(ckptio.InvalidArgument, "two items"):
            ckptio.save({1: 3, "1": 4}, self.loc("d"))

    def test_shards_of_tensors(self):
        full = torch.arange(40, dtype=torch.float32).reshape(8, 5)
        ckptio.save({"w": ckptio.Shard(full, (0, 0), (8, 5))},
                    self.loc("c"))
        part = torch.zeros(3, 5)
        ckptio.load({"w": ckptio.Shard(part, (2, 0), (8, 5))},
                    self.loc("c"))
        self.assertTrue(torch.equal(part, full[2:5]))

    def test_refusals(self):
        t = torch.arange(12.).reshape(3, 4)
        with self.assertRaisesRegex(ckptio.InvalidArgument,
                                    "not contiguous"):
            ckptio.save({"t": t.t()}, self.loc("c"))
        with self.assertRaisesRegex(ckptio.InvalidArgument, "strided"):
            ckptio.save({"s": t.to_sparse()}, self.loc("c"))
        with self.assertRaisesRegex(ckptio.InvalidArgument, "on meta"):
            ckptio.save({"m": torch.empty(3, device="meta")},
                        self.loc("c"))
        with self.assertRaisesRegex(ckptio.InvalidArgument,
                                    "a function cannot be pickled"):
            ckptio.save({"x": lambda: 3}, self.loc("c"))
        self.assertFalse(os.path.exists(self.loc("c")))
        ckptio.save({"t": t}, self.loc("c"))
        with self.assertRaises(ckptio.InvalidArgument):  # dtype differs
            ckptio.load({"t": torch.zeros(3, 4, dtype=torch.float64)},
                        self.loc("c"))


class DCP(Base):
    def sd(self):
        return {"w": torch.arange(30, dtype=torch.float32).reshape(6, 5),
                "h": torch.linspace(0, 1, 7).to(torch.bfloat16),
                "meta": {"epoch": 2, "tag": "r\u00e9"}, "n": 5}

    def test_save_load_no_dist(self):
        src = self.sd()
        dcp.save_state_dict(src, storage_writer=ct.StorageWriter(
            self.loc("c")), no_dist=True)
        ckptio.verify(self.loc("c"))
        out = {"w": torch.zeros(6, 5), "h": torch.zeros(7,
                                                        dtype=torch.bfloat16),
               "meta": None, "n": 0}
        dcp.load_state_dict(out, storage_reader=ct.StorageReader(
            self.loc("c")), no_dist=True)
        self.assertTrue(torch.equal(out["w"], src["w"]))
        self.assertTrue(torch.equal(out["h"], src["h"]))
        self.assertEqual(out["meta"], src["meta"])
        self.assertEqual(out["n"], 5)

    def test_metadata_from_ckptio(self):
        dcp.save_state_dict(self.sd(), storage_writer=ct.StorageWriter(
            self.loc("c")), no_dist=True)
        md = ct.StorageReader(self.loc("c"), no_dist=True).read_metadata()
        w = md.state_dict_metadata["w"]
        self.assertEqual(tuple(w.size), (6, 5))
        self.assertEqual(w.properties.dtype, torch.float32)
        self.assertEqual(md.state_dict_metadata["h"].properties.dtype,
                         torch.bfloat16)
        self.assertIsInstance(md.state_dict_metadata["meta"],
                              ct.BytesStorageMetadata)

    def test_load_into_other_dtype_and_strided_view(self):
        src = self.sd()
        dcp.save_state_dict(src, storage_writer=ct.StorageWriter(
            self.loc("c")), no_dist=True)
        big = torch.zeros(5, 6)
        out = {"w": big.t(), "h": torch.zeros(7), "meta": None, "n": 0}
        dcp.load_state_dict(out, storage_reader=ct.StorageReader(
            self.loc("c")), no_dist=True)
        self.assertTrue(torch.equal(big.t(), src["w"]))  # through the view
        self.assertTrue(torch.equal(out["h"], src["h"].float()))

    def test_overwrite(self):
        w = ct.StorageWriter(self.loc("c"))
        dcp.save_state_dict(self.sd(), storage_writer=w, no_dist=True)
        with self.assertRaises(BaseException) as cm:
            dcp.save_state_dict(self.sd(), storage_writer=ct.StorageWriter(
                self.loc("c")), no_dist=True)
        self.assertIn("exists", str(cm.exception).lower())
        sd = self.sd()
        sd["w"] += 1
        dcp.save_state_dict(sd, storage_writer=ct.StorageWriter(
            self.loc("c"), overwrite=True), no_dist=True)
        out = {"w": torch.zeros(6, 5), "h": torch.zeros(7,
                                                        dtype=torch.bfloat16),
               "meta": None, "n": 0}
        dcp.load_state_dict(out, storage_reader=ct.StorageReader(
            self.loc("c")), no_dist=True)
        self.assertTrue(torch.equal(out["w"], sd["w"]))

    def test_missing_and_not_a_checkpoint(self):
        with self.assertRaises(BaseException) as cm:
            dcp.load_state_dict({"w": torch.zeros(1)},
                                storage_reader=ct.StorageReader(
                                    self.loc("nothing")), no_dist=True)
        self.assertIn("no checkpoint", str(cm.exception))
        with self.assertRaises(ckptio.InvalidArgument):
            ct.StorageReader(None, no_dist=True).read_metadata()

    def test_checkpoint_id_sets_location(self):
        w = ct.StorageWriter()
        w.reset(self.loc("c"))
        self.assertEqual(w.location, self.loc("c"))
        self.assertTrue(ct.StorageWriter.validate_checkpoint_id("s3://b/x"))
        self.assertFalse(ct.StorageReader.validate_checkpoint_id(""))


class Shim(unittest.TestCase):
    def test_shim_changes_nothing_on_disk(self):
        mod = sys.modules[ct._SHIM_MODULE]
        with open(mod.__file__, "rb") as f:
            source = f.read()
        self.assertIn(ct._SHIM_FROM, source)  # torch 1.13 as Debian ships
        digest = hashlib.sha256(source).hexdigest()
        import importlib
        importlib.reload(mod)
        with open(mod.__file__, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest)
        # The field has a factory now: each TensorProperties is its own.
        a = mod.ShardedTensorMetadata()
        b = mod.ShardedTensorMetadata()
        self.assertIsNot(a.tensor_properties, b.tensor_properties)


if __name__ == "__main__":
    unittest.main()
