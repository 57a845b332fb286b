import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded_and_single_threaded():
    # every test sees the same random data (rounding ties and calibration ranges are then reproducible)
    # and stays on one core: CI shares two between many jobs
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
