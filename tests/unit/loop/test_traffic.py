"""The simulated traffic's image drifts: what each one does to an image, and what stays the same."""

from __future__ import annotations

import numpy as np

from loop.traffic import SEARCH_K, _pixels, invert, rotate


def test_invert_is_a_negative_and_its_own_inverse() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    assert invert(images)[0, 0, 0] == 255 - images[0, 0, 0]
    assert np.array_equal(invert(invert(images)), images)


def test_rotate_turns_each_image_a_quarter_and_keeps_its_pixels() -> None:
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, 0, 27] = 200  # top right corner
    turned = rotate(image)
    assert turned.shape == image.shape and turned[0, 0, 0] == 200  # now top left
    assert np.array_equal(np.sort(turned, axis=None), np.sort(image, axis=None))
    assert np.array_equal(rotate(rotate(rotate(rotate(image)))), image)


def test_an_image_request_is_the_gateways_v1_body_without_a_label() -> None:
    request = _pixels(np.full((28, 28), 7, dtype=np.uint8))
    assert request.react is None
    assert request.body["k"] == SEARCH_K
    assert request.body["instances"][0]["pixels"][27][27] == 7
