import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter.images import FilterModule, image_reference_problem


@pytest.mark.parametrize("value", [
    "registry.istio.io/release", "docker.io/istio", "localhost:5000", "mirror.example.com:5000/istio/samples",
    "gcr.io/istio-burst-workshop", "my-registry.local/a__b/c.d"])
def test_valid_registry_prefixes(value):
    assert image_reference_problem(value, "registry") == ""


@pytest.mark.parametrize("value, words", [
    ("registry.istio.io/release/", "ends with '/'"),
    ("https://registry.istio.io/release", "URL scheme"),
    ("registry.istio.io/release:1.20.3", "tag or digest"),
    ("registry.istio.io/release@sha256:" + "a" * 64, "tag or digest"),
    ("registry.istio.io/Release", "lower case"),
    ("registry istio", "white space"),
    ("", "empty"),
    ("registry.istio.io//release", "not a valid image registry prefix"),
])
def test_malformed_registry_prefixes_say_why(value, words):
    assert words in image_reference_problem(value, "registry")


@pytest.mark.parametrize("value, problem", [
    ("1.20.3", ""), ("latest", ""), ("v1_2-rc.3", ""),
    ("1.20:3", "cannot contain"), (".hidden", "not a valid image tag"), ("a" * 129, "not a valid image tag")])
def test_tags(value, problem):
    assert (problem in image_reference_problem(value, "tag")) if problem else image_reference_problem(value, "tag") == ""


@pytest.mark.parametrize("value, ok", [
    ("redis:alpine", True), ("redis", True), ("docker.io/library/redis:7-alpine", True),
    ("mirror:5000/redis@sha256:" + "0" * 64, True), ("redis:", False), ("Redis:alpine", False),
    ("redis::alpine", False)])
def test_full_images(value, ok):
    assert (image_reference_problem(value, "image") == "") is ok


def test_non_strings_and_unknown_parts():
    assert "not a string" in image_reference_problem(5000, "registry")
    with pytest.raises(AnsibleFilterError, match="part must be one of"):
        image_reference_problem("x", "repository")
    assert FilterModule().filters()["image_reference_problem"] is image_reference_problem
