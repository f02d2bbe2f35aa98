"""The restricted unpickler: NumPy arrays and plain containers only."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from fusion_stack.io.errors import RecordingError
from fusion_stack.io.nuscenes_dataset import open_nuscenes_info
from fusion_stack.io.restricted_pickle import load_restricted_pickle, loads_restricted_pickle


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_and_containers_load(protocol: int) -> None:
    doc = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "x", None, True], "c": (np.int64(3),),
           "d": {1, 2}, "e": collections.OrderedDict(k=np.float64(1.5)), "f": b"raw",
           "g": np.zeros(3, dtype=[("x", "<f4"), ("n", "<u2")])}
    back = loads_restricted_pickle(pickle.dumps(doc, protocol=protocol))
    assert back.keys() == doc.keys()
    np.testing.assert_array_equal(back["a"], doc["a"])
    assert back["b"] == doc["b"] and back["c"] == doc["c"] and back["d"] == doc["d"] and back["f"] == b"raw"
    assert back["g"].dtype == doc["g"].dtype


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Evil()),
    pickle.dumps(np.array([1, "x"], dtype=object)),
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncposix\nsystem\nK\x00\x85C\x01b\x87R.",
])
def test_malicious_pickles_are_refused(payload: bytes) -> None:
    with pytest.raises(RecordingError, match="refused to unpickle") as info:
        loads_restricted_pickle(payload, source="evil.pkl")
    assert info.value.field == "pickle" and "evil.pkl" in str(info.value)


@pytest.mark.parametrize("payload", [b"", b"not a pickle", pickle.dumps({"a": list(range(100))})[:-7]])
def test_corrupt_pickles_raise(payload: bytes) -> None:
    with pytest.raises(RecordingError, match="not a valid pickle"):
        loads_restricted_pickle(payload)


@pytest.mark.real_data
def test_corrupt_nuscenes_pkl(shared_data: Path, tmp_path: Path) -> None:
    src = next((shared_data / "nuscenes_keyframe").glob("*.pkl"))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(RecordingError) as info:
        open_nuscenes_info(bad)
    assert str(bad) in str(info.value) and info.value.field == "pickle"
    with pytest.raises(RecordingError, match="cannot read"):
        load_restricted_pickle(tmp_path / "missing.pkl")
