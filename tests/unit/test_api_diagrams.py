"""Diagram pictures: valid SVG and PNG, one diagram and one barcode per dimension."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from tda_api.diagrams import finite_range, render

pytestmark = pytest.mark.unit

DIAGRAMS = [np.array([[0.0, 0.3], [0.0, 0.7], [0.0, math.inf]]), np.array([[0.4, 1.2]]), np.zeros((0, 2))]


def test_svg_is_well_formed_and_titles_each_dimension():
    svg = render(DIAGRAMS, "svg", "circle / inline")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    text = svg.decode()
    for q in range(3):
        assert f"H{q} diagram" in text or f"H{q}" in text


def test_png_is_a_png_of_one_row_per_dimension():
    from PIL import Image

    one = Image.open(io.BytesIO(render(DIAGRAMS[:1], "png", "one")))
    three = Image.open(io.BytesIO(render(DIAGRAMS, "png", "three")))
    assert one.format == three.format == "PNG"
    assert three.height > 2 * one.height
    assert one.width == three.width


def test_same_diagrams_give_the_same_svg():
    assert render(DIAGRAMS, "svg", "t") == render(DIAGRAMS, "svg", "t")


def test_empty_and_all_essential_diagrams_render():
    assert render([np.zeros((0, 2))], "png", "empty").startswith(b"\x89PNG")
    assert render([np.array([[0.0, math.inf]])], "svg", "inf").lstrip().startswith(b"<?xml")


def test_finite_range_ignores_infinity():
    assert finite_range(DIAGRAMS) == (0.0, 1.2)
    assert finite_range([np.zeros((0, 2))]) == (0.0, 1.0)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        render(DIAGRAMS, "gif", "t")
