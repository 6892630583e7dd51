"""fixtures/zjpx.py, fixtures/photos.py and the shared Faker provider: realistic, valid, reproducible."""

from __future__ import annotations

import io

from faker import Faker
from PIL import Image

from fixtures.identity import IdentityProvider, is_valid_id
from fixtures.photos import blank_photo, two_inch_photo
from fixtures.zjpx import ZjpxData, resources
from harness.zjpx.rules import BLANK_STDDEV, inspect_image


def test_same_seed_same_data_and_different_seeds_differ() -> None:
    assert ZjpxData(5).class_intake(students=4) == ZjpxData(5).class_intake(students=4)
    assert ZjpxData(5).class_intake()["classCode"] != ZjpxData(6).class_intake()["classCode"]
    assert ZjpxData(5).course_package("a" * 32) == ZjpxData(5).course_package("a" * 32)


def test_learners_are_realistic() -> None:
    intake = ZjpxData(7).class_intake(students=20)
    for s in intake["thirdClassStudentInfoVoList"]:
        assert is_valid_id(s["cardNo"])
        assert len(s["studentPhone"]) == 11 and s["studentPhone"].startswith("1")
        assert 2 <= len(s["studentName"]) <= 4
        assert len(s["studentCode"]) == 32
    assert len(resources(intake)) == 4  # 1 course × 2 chapters × 2 videos


def test_faker_provider_is_usable_on_its_own() -> None:
    fake = Faker("zh_CN")
    fake.add_provider(IdentityProvider)
    fake.seed_instance(3)
    first = (fake.resident_id(), fake.cn_mobile())
    fake.seed_instance(3)
    assert (fake.resident_id(), fake.cn_mobile()) == first
    assert is_valid_id(first[0])
    assert Image.open(io.BytesIO(fake.two_inch_photo())).size == (413, 579)


def test_two_inch_photos_match_and_blank_frames_do_not() -> None:
    photo, why = inspect_image(two_inch_photo(1), strict=True)
    assert why is None and photo is not None and photo["stddev"] >= BLANK_STDDEV and (photo["width"], photo["height"]) == (413, 579)
    blank, why = inspect_image(blank_photo(), strict=True)
    assert why is None and blank is not None and blank["stddev"] < BLANK_STDDEV
