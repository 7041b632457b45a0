"""The ckptio Python package against the built library (run by
tests/python/test_python.sh): round trips of nested numpy state dicts in
every dtype numpy has, loads into the caller's arrays in place, partial
loads and reads of single items, both layouts, a backend from a
configuration file, every refusal (non-contiguous, read-only, immutable,
unknown dtype, duplicate names, wrong shapes) with its exception, and a
corrupted byte caught on load and verify."""

import os
import shutil
import tempfile
import unittest

import numpy as np

import ckptio


def sample():
    rng = np.random.default_rng(7)
    return {
        "model": {
            "w": rng.standard_normal((64, 33)).astype(np.float32),
            "b": rng.standard_normal(33).astype(np.float64),
            "h": rng.standard_normal((5, 5)).astype(np.float16),
            "layers": {"0": {"ids": rng.integers(-2**40, 2**40, 7)}},
        },
        "ints": {t.__name__: rng.integers(0, 100, 9).astype(t)
                 for t in (np.int8, np.int16, np.int32, np.uint8, np.uint16,
                           np.uint32, np.uint64)},
        "mask": rng.integers(0, 2, (3, 4)).astype(np.bool_),
        "z": (rng.standard_normal(6) + 1j).astype(np.complex64),
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.array(2.5, np.float64),
        "step": b"step-0000123",
    }


def like(sd):
    """Empty buffers of the same names, dtypes and shapes."""
    out = {}
    for k, v in sd.items():
        if isinstance(v, dict):
            out[k] = like(v)
        elif isinstance(v, bytes):
            out[k] = bytearray(len(v))
        else:
            out[k] = np.zeros_like(v)
    return out


def same(a, b):
    fa, fb = ckptio.flatten(a), ckptio.flatten(b)
    assert fa.keys() == fb.keys(), (fa.keys(), fb.keys())
    for k in fa:
        if isinstance(fa[k], (bytes, bytearray)):
            assert bytes(fa[k]) == bytes(fb[k]), k
        else:
            assert fa[k].dtype == fb[k].dtype and fa[k].shape == fb[k].shape, k
            assert np.array_equal(fa[k], fb[k]), k


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ckptio-py-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def loc(self, name):
        return os.path.join(self.dir, name)


class RoundTrip(Base):
    def test_nested_every_dtype(self):
        sd = sample()
        ckptio.save(sd, self.loc("a"))
        out = like(sd)
        ckptio.load(out, self.loc("a"))
        same(sd, out)

    def test_load_writes_in_place(self):
        w = np.arange(12, dtype=np.float32).reshape(3, 4)
        ckptio.save({"w": w}, self.loc("a"))
        dst = np.zeros((3, 4), np.float32)
        ptr = dst.ctypes.data
        ckptio.load({"w": dst}, self.loc("a"))
        self.assertEqual(dst.ctypes.data, ptr)
        np.testing.assert_array_equal(dst, w)

    def test_open_items_and_read(self):
        sd = sample()
        ckptio.save(sd, self.loc("a"))
        with ckptio.open(self.loc("a")) as ck:
            self.assertEqual(ck.layout, "native")
            names = [it.name for it in ck.items]
            self.assertIn("model.layers.0.ids", names)
            byname = {it.name: it for it in ck.items}
            self.assertEqual(byname["model.w"].dtype, "F32")
            self.assertEqual(byname["model.w"].shape, (64, 33))
            self.assertEqual(byname["step"].kind, "bytes")
            np.testing.assert_array_equal(ck.read("model.w"), sd["model"]["w"])
            self.assertEqual(ck.read("step"), sd["step"])
            with self.assertRaises(ckptio.NotFound):
                ck.read("no.such.item")

    def test_partial_load(self):
        ckptio.save({"a": np.ones(3, np.int32)}, self.loc("p"))
        out = {"a": np.zeros(3, np.int32), "b": np.full(2, 7, np.int64)}
        with self.assertRaises(ckptio.NotFound) as cm:
            ckptio.load(out, self.loc("p"))
        self.assertIn("'b'", str(cm.exception))
        ckptio.load(out, self.loc("p"), partial=True)
        np.testing.assert_array_equal(out["a"], [1, 1, 1])
        np.testing.assert_array_equal(out["b"], [7, 7])  # untouched

    def test_overwrite(self):
        ckptio.save({"a": np.ones(2)}, self.loc("o"))
        with self.assertRaises(ckptio.Exists) as cm:
            ckptio.save({"a": np.zeros(2)}, self.loc("o"))
        self.assertEqual(cm.exception.status, 5)
        ckptio.save({"a": np.full(2, 3.0)}, self.loc("o"), overwrite=True)
        out = {"a": np.zeros(2)}
        ckptio.load(out, self.loc("o"))
        np.testing.assert_array_equal(out["a"], [3, 3])

    def test_safetensors_layout(self):
        sd = sample()
        ckptio.save(sd, self.loc("st"), layout="safetensors")
        self.assertTrue(os.path.exists(
            os.path.join(self.loc("st"), "model.safetensors")))
        with ckptio.open(self.loc("st")) as ck:
            self.assertEqual(ck.layout, "safetensors")
        out = like(sd)
        ckptio.load(out, self.loc("st"))
        same(sd, out)

    def test_backend_from_config(self):
        conf = os.path.join(self.dir, "c.conf")
        with open(conf, "w") as f:
            f.write('[backend "here"]\nstore = posix\nroot = %s\n' % self.dir)
        with ckptio.Context(conf) as ctx:
            ctx.save({"x": np.arange(4)}, "here:run/1")
            ctx.verify("here:run/1")
        self.assertTrue(os.path.exists(
            os.path.join(self.dir, "run", "1", ".metadata.json")))
        with self.assertRaises(ckptio.ConfigError):
            ckptio.Context(os.path.join(self.dir, "missing.conf"))


class AsyncAndProgress(Base):
    def test_async_save(self):
        sd = sample()
        f = ckptio.async_save(sd, self.loc("a"))
        self.assertIsNone(f.result(timeout=60))
        out = like(sd)
        ckptio.load(out, self.loc("a"))
        same(sd, out)

    def test_async_save_staged_then_changed(self):
        w = np.arange(1000, dtype=np.float64)
        f = ckptio.async_save({"w": w}, self.loc("s"), stage=True)
        w[:] = -1  # staged: the save keeps the values it was given
        f.result(timeout=60)
        out = {"w": np.zeros(1000)}
        ckptio.load(out, self.loc("s"))
        np.testing.assert_array_equal(out["w"], np.arange(1000))

    def test_async_save_failure(self):
        ckptio.save({"a": np.ones(1)}, self.loc("e"))
        f = ckptio.async_save({"a": np.ones(1)}, self.loc("e"))
        with self.assertRaises(ckptio.Exists):
            f.result(timeout=60)

    def test_progress_and_cancel(self):
        seen = []
        big = {"w": np.ones(1 << 22, np.float32)}
        ckptio.save(big, self.loc("p"),
                    progress=lambda d, t: seen.append((d, t)))
        self.assertTrue(seen)
        self.assertEqual(seen[-1][0], seen[-1][1])  # ends at the total
        self.assertEqual(seen[-1][1], 1 << 24)
        with self.assertRaises(ckptio.Canceled):
            ckptio.save(big, self.loc("q"), progress=lambda d, t: True)
        self.assertFalse(os.path.exists(
            os.path.join(self.loc("q"), ".metadata.json")))

        class Stop(Exception):
            pass

        def boom(d, t):
            raise Stop()
        with self.assertRaises(Stop):
            ckptio.save(big, self.loc("r"), progress=boom)
        self.assertFalse(os.path.exists(
            os.path.join(self.loc("r"), ".metadata.json")))


class Refusals(Base):
    def test_not_contiguous(self):
        a = np.arange(20, dtype=np.float32).reshape(4, 5)[:, 1:3]
        with self.assertRaises(ckptio.InvalidArgument) as cm:
            ckptio.save({"a": a}, self.loc("x"))
        self.assertIn("C-contiguous", str(cm.exception))
        self.assertFalse(os.path.exists(self.loc("x")))

    def test_read_only_and_immutable(self):
        ckptio.save({"a": np.ones(2), "s": b"ab"}, self.loc("r"))
        ro = np.zeros(2)
        ro.flags.writeable = False
        with self.assertRaises(ckptio.InvalidArgument):
            ckptio.load({"a": ro, "s": bytearray(2)}, self.loc("r"))
        with self.assertRaises(ckptio.InvalidArgument) as cm:
            ckptio.load({"a": np.zeros(2), "s": b"xx"}, self.loc("r"))
        self.assertIn("bytearray", str(cm.exception))

    def test_dtypes_without_ckptio_dtype(self):
        for a in (np.zeros(2, ">f4"), np.zeros(2, np.float128),
                  np.zeros(2, "U3"), np.zeros(2, object)):
            with self.assertRaises(ckptio.InvalidArgument):
                ckptio.save({"a": a}, self.loc("d"))

    def test_names(self):
        with self.assertRaises(ckptio.InvalidArgument):
            ckptio.save({1.5: np.zeros(1)}, self.loc("n"))
        with self.assertRaises(ckptio.InvalidArgument):
            ckptio.save({"a.b": np.zeros(1), "a": {"b": np.zeros(1)}},
                        self.loc("n"))
        with self.assertRaises(ckptio.InvalidArgument):
            ckptio.save({"a": lambda: 1}, self.loc("n"))  # not picklable
        with self.assertRaises(ckptio.InvalidArgument):
            ckptio.save({"bad\udcff": np.zeros(1)}, self.loc("n"))

    def test_wrong_shape_or_dtype_on_load(self):
        ckptio.save({"w": np.ones((2, 3), np.float32)}, self.loc("s"))
        with self.assertRaises(ckptio.Error):
            ckptio.load({"w": np.zeros((3, 2), np.float32)}, self.loc("s"))
        with self.assertRaises(ckptio.Error):
            ckptio.load({"w": np.zeros((2, 3), np.float64)}, self.loc("s"))

    def test_corrupt_byte_caught(self):
        w = np.arange(4096, dtype=np.float32)
        ckptio.save({"w": w}, self.loc("c"))
        data = [f for f in os.listdir(self.loc("c")) if f.endswith(".ckd")]
        path = os.path.join(self.loc("c"), data[0])
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 1]))
        with self.assertRaises(ckptio.Corrupt) as cm:
            ckptio.load({"w": np.zeros(4096, np.float32)}, self.loc("c"))
        self.assertIn("CRC32C", str(cm.exception))
        with self.assertRaises(ckptio.Corrupt):
            ckptio.verify(self.loc("c"))

    def test_objects_pickled(self):
        sd = {"step": 12, "cfg": {"lr": 0.1, "betas": (0.9, 0.99)},
              "groups": [{"params": [0, 1]}], "w": np.ones(3), 7: "seven"}
        ckptio.save(sd, self.loc("o"))
        out = {"step": None, "cfg": {"lr": None, "betas": None},
               "groups": None, "w": np.zeros(3), 7: None}
        ckptio.load(out, self.loc("o"))
        self.assertEqual(out["step"], 12)
        self.assertEqual(out["cfg"], {"lr": 0.1, "betas": (0.9, 0.99)})
        self.assertEqual(out["groups"], [{"params": [0, 1]}])
        self.assertEqual(out[7], "seven")   # an integer key, kept as one
        self.assertTrue(np.array_equal(out["w"], np.ones(3)))

    def test_missing_checkpoint(self):
        with self.assertRaises(ckptio.NotFound):
            ckptio.open(self.loc("nothing"))
        with self.assertRaises(FileNotFoundError):  # a NotFound is one too
            ckptio.load({"a": np.zeros(1)}, self.loc("nothing"))


class Flaky(ckptio.Coordinator):
    """Rank 0 of two whose link fails at the first gather."""
    rank, world = 0, 2

    def gather(self, data):
        raise RuntimeError("link to rank 1 is down")

    def broadcast(self, data):
        return data


class CoordinatorErrors(Base):
    def test_coordinator_error_detail_in_message(self):
        with self.assertRaises(ckptio.CoordinatorError) as cm:
            ckptio.save({"a": np.ones(4)}, self.loc("c"),
                        coordinator=Flaky())
        self.assertIn("gather failed: RuntimeError: link to rank 1 is down",
                      str(cm.exception))
        self.assertFalse(os.path.exists(self.loc("c")) and
                         os.listdir(self.loc("c")))
        with self.assertRaises(ckptio.NotFound):
            ckptio.open(self.loc("c"))


if __name__ == "__main__":
    unittest.main()
