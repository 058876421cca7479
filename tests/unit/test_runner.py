import pytest

from course_utils import runner


def test_notebooks_listed_in_reading_order():
    names = [p.name for p in runner.list_notebooks()]
    assert names == sorted(names) and names[0].startswith("00_")


def test_only_filters_and_rejects_unknown():
    assert [p.name[:2] for p in runner.list_notebooks(["00"])] == ["00"]
    with pytest.raises(ValueError, match="'77'"):
        runner.list_notebooks(["77"])
