"""Planted one-bar errors (x100, x0.01, x10) in the real CSI 300 panel are all found, and the clean panel holds
no error-level finding (benchmarks/plant_quality.py; ../shared/data/README.md)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT.parent / "shared" / "data" / "cn_csi300_qlib"


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not FOLDER.is_dir(), reason="../shared/data (CSI 300 folder) is absent")
def test_planted_errors_in_the_csi300_panel_are_all_found():
    spec = importlib.util.spec_from_file_location("plant_quality", ROOT / "benchmarks" / "plant_quality.py")
    plant = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # codes without data, as the README says
        missed, extra, clean = plant.main(f"qlib:{FOLDER}?universe=csi300&benchmark=SH000300", 50, 0)
    assert clean.errors == []  # genuine moves (limit moves, new listings, suspensions) are not errors
    assert missed == [] and extra == []
