"""PatchObject (RFC 8620 §5.3)."""

from __future__ import annotations

import copy

import pytest

from jmap.errors import SetError
from methods.patch import apply_patch

OBJ = {
    "name": "Inbox",
    "keywords": {"$seen": True, "a/b": True, "t~x": True},
    "deep": {"one": {"two": 2}},
    "list": [{"x": 1}, {"x": 2}],
    "scalar": 5,
    "nothing": None,
}


def patched(patch):
    original = copy.deepcopy(OBJ)
    result, touched = apply_patch(OBJ, patch)
    assert original == OBJ, "the original object must not change"
    return result, touched


def test_set_top_level_and_nested():
    result, touched = patched({"name": "Other", "keywords/$flagged": True, "deep/one/three": 3})
    assert result["name"] == "Other"
    assert result["keywords"] == {"$seen": True, "a/b": True, "t~x": True, "$flagged": True}
    assert result["deep"] == {"one": {"two": 2, "three": 3}}
    assert touched == {"name", "keywords", "deep"}
    assert result["list"] == OBJ["list"]


def test_null_removes_a_nested_key_and_is_a_noop_when_absent():
    result, touched = patched({"keywords/$seen": None, "deep/one/absent": None})
    assert result["keywords"] == {"a/b": True, "t~x": True}
    assert result["deep"] == {"one": {"two": 2}}
    assert touched == {"keywords", "deep"}


def test_null_at_the_top_level_resets_the_property():
    result, _ = patched({"name": None})
    assert "name" in result and result["name"] is None


def test_escaped_keys():
    result, _ = patched({"keywords/a~1b": None, "keywords/t~0x": False, "new~1prop": 1})
    assert result["keywords"] == {"$seen": True, "t~x": False}
    assert result["new/prop"] == 1


def test_whole_values_replace():
    result, _ = patched({"list": [1], "deep": {"fresh": True}})
    assert result["list"] == [1]
    assert result["deep"] == {"fresh": True}


def test_result_does_not_share_nested_objects_with_the_original():
    result, _ = patched({"name": "x"})
    result["deep"]["one"]["two"] = 99
    result["list"].append(3)
    assert OBJ["deep"]["one"]["two"] == 2
    assert len(OBJ["list"]) == 2


@pytest.mark.parametrize(
    "patch",
    [
        {"list/0": {"x": 9}},  # inside an array
        {"list/0/x": 9},
        {"list/-": 3},
        {"missing/key": 1},  # a non-final part does not exist
        {"deep/missing/key": 1},
        {"scalar/key": 1},  # a non-final part is not an object
        {"nothing/key": 1},
        {"name/0": "x"},
        {"keywords": {}, "keywords/$seen": True},  # prefix
        {"keywords/$seen": True, "keywords": {}},
        {"deep/one": {}, "deep/one/two": 3},
        {"deep": None, "deep/one/two": 3},
        # "a/b" sorts between "a/b" and "a/b/c" only if one compares strings: "-" < "/"
        {"deep/one": {}, "deep/one-x": 1, "deep/one/two": 3},
        {"deep/one/two": 3, "deep/one-x": 1, "deep/one": {}},
        {"": 1},
        {"/name": "x"},  # the leading "/" is implicit
    ],
)
def test_invalid_patches(patch):
    original = copy.deepcopy(OBJ)
    with pytest.raises(SetError) as info:
        apply_patch(OBJ, patch)
    assert info.value.kind == "invalidPatch"
    assert original == OBJ


def test_siblings_sharing_a_string_prefix_are_fine():
    result, _ = patched({"deep/one": {"n": 1}, "deep/one-x": 1, "deep/on": 2})
    assert result["deep"] == {"one": {"n": 1}, "one-x": 1, "on": 2}


def test_escaped_slash_is_not_a_path_prefix():
    # "keywords/a~1b" names the key "a/b"; "keywords/a" is an unrelated sibling
    result, _ = patched({"keywords/a~1b": False, "keywords/a": True})
    assert result["keywords"]["a/b"] is False
    assert result["keywords"]["a"] is True
